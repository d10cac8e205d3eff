"""Token-budget batching over real tokenized Tatoeba pairs: the same (seed, epoch) always gives the same
batches (a resumed run sees the same data order), every example is used once per epoch within the token
budget, the batches are exactly those of the pool-sort-cut rule, and the sampler's memory does not grow
with Python objects per example (issue 12 item 6)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _modeling_helpers import tatoeba_pairs, write_dataset

from bilingual.modeling import data as data_mod


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    """The real tokenized train split (both directions), from the on-disk cache as training reads it."""
    from transformers import AutoTokenizer

    from bilingual.modeling.model import HFTransformerModel
    from bilingual.modeling.tokenizer import train_tokenizer

    tmp = tmp_path_factory.mktemp("batching")
    pairs = tatoeba_pairs(1500)
    train_tokenizer([p[k] for p in pairs for k in ("bn", "en")], tmp / "tok", vocab_size=1000)
    hf = HFTransformerModel.from_preset("tiny", AutoTokenizer.from_pretrained(tmp / "tok"), seed=0)
    split = data_mod.load_splits(write_dataset(tmp / "ds", pairs), ("train",))["train"]
    return data_mod.tokenize_split(split, hf, ["bn-en", "en-bn"], 64, 64, cache_dir=tmp / "cache")


def _batches(sampler):
    return [list(b) for b in sampler]


def test_lengths_are_read_from_the_arrow_column(tokenized):
    lengths = data_mod.example_lengths(tokenized)
    assert isinstance(lengths, np.ndarray) and lengths.dtype == np.int32
    assert lengths.tolist() == tokenized["length"]
    assert len(lengths) == 3000 and lengths.min() >= 2


def test_same_seed_and_epoch_give_the_same_batches(tokenized):
    lengths = data_mod.example_lengths(tokenized)
    a = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=512, max_sentences=32, seed=7)
    b = data_mod.TokenBudgetBatchSampler(list(tokenized["length"]), max_tokens=512, max_sentences=32, seed=7)
    epoch0 = _batches(a)
    assert epoch0 == _batches(b) == _batches(a)       # another instance, a list input, a second pass
    a.set_epoch(1)
    epoch1 = _batches(a)
    assert epoch1 != epoch0
    a.set_epoch(0)                                     # a run resumed in epoch 0 sees epoch 0's batches again
    assert _batches(a) == epoch0
    b.set_epoch(1)
    assert _batches(b) == epoch1
    other_seed = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=512, max_sentences=32, seed=8)
    assert _batches(other_seed) != epoch0


@pytest.mark.parametrize("max_tokens,max_sentences,shuffle", [(512, 32, True), (300, None, True), (40, 4, False)])
def test_every_example_once_within_the_budget(tokenized, max_tokens, max_sentences, shuffle):
    lengths = data_mod.example_lengths(tokenized)
    sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=max_tokens, max_sentences=max_sentences,
                                               seed=3, shuffle=shuffle)
    batches = _batches(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or longest * len(b) <= max_tokens
        assert max_sentences is None or len(b) <= max_sentences


def _reference_batches(lengths, order, max_tokens, max_sentences, pool):
    """The rule written out per example with plain lists: pools of the shuffled order sorted by length
    (stable), cut greedily when the padded size or the sentence cap would be exceeded."""
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batch, longest = [], 0
        for i in chunk:
            n = max(longest, lengths[i])
            if batch and (n * (len(batch) + 1) > max_tokens or (max_sentences and len(batch) >= max_sentences)):
                out.append(batch)
                batch, n = [], lengths[i]
            batch.append(i)
            longest = n
        if batch:
            out.append(batch)
    return out


def test_batches_follow_the_pool_sort_cut_rule(tokenized):
    lengths = tokenized["length"]
    sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=400, max_sentences=16, seed=5, pool_batches=10)
    # the same example order and batch shuffle the sampler draws for (seed, epoch)
    rng = np.random.default_rng([5, 0])
    order = rng.permutation(len(lengths)).tolist()
    per_batch = min(16, int(400 // max(1.0, float(np.mean(lengths)))))
    expected = _reference_batches(lengths, order, 400, 16, per_batch * 10)
    expected = [expected[k] for k in rng.permutation(len(expected)).tolist()]
    assert _batches(sampler) == expected


def test_sampler_memory_is_a_few_bytes_per_example(tokenized):
    """One million examples (the real lengths repeated): the sampler's own allocations stay under 24 MB;
    per-example Python lists (the earlier sampler: order, lengths and batches as lists of ints) took ~60 MB."""
    lengths = np.tile(data_mod.example_lengths(tokenized), 1_000_000 // 3000 + 1)[:1_000_000]
    tracemalloc.start()
    try:
        sampler = data_mod.TokenBudgetBatchSampler(lengths, max_tokens=4096, max_sentences=64, seed=0)
        sampler.set_epoch(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(1 for _ in sampler) == len(sampler)
    assert peak < 24 * 2**20, f"sampler peak {peak / 2**20:.1f} MB for 1M examples"
