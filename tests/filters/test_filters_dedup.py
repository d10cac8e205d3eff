"""Dedup at scale on the bundled pairs: the disk-partitioned exact and near-duplicate decisions equal
a plain in-memory keep-first reference (the algorithm the steps used before), for any chunk size,
process count and number of spill partitions."""

import random

import numpy as np
import pytest
from datasets import Dataset

from bilingual.filters.pipeline import Pipeline
from bilingual.filters.steps import dedup
from bilingual.filters.steps.dedup import key_hash, lsh_params, minhash_batch
from bilingual.schema import normalize_key
from bilingual.sources.corpora import readers as corpora


@pytest.fixture(scope="module")
def rows(samples):
    par = samples / "parallel"
    real = list(corpora.read_tsv(par / "tatoeba-ben-eng.tsv")) + list(corpora.read_tmx(par / "tico19-all.en-bn.tmx"))
    rng = random.Random(3)
    out = [(r["bn"], r["en"]) for r in real]
    for b, e in rng.sample(out, 400):  # planted near-duplicates: one word dropped or doubled
        words = e.split()
        if len(words) > 3:
            k = rng.randrange(len(words))
            words = words[:k] + words[k + 1:] if rng.random() < 0.5 else words[:k] + [words[k]] + words[k:]
        out.append((b, " ".join(words)))
    out += rng.sample(out, 300)  # exact copies
    rng.shuffle(out)
    return [{"id": f"r{i}", "bn": b, "en": e} for i, (b, e) in enumerate(out)]


def reference_exact(rows, keys):
    """Keep-first per key, one key after the other over the rows still kept, each with one set
    (what exact_dedup did before spilling)."""
    dropped = {}
    for k in keys:
        seen = set()
        for i, r in enumerate(rows):
            if i in dropped:
                continue
            text = normalize_key(r["bn"]) + "\t" + normalize_key(r["en"]) if k == "pair" else normalize_key(r[k])
            h = key_hash(text)
            if h in seen:
                dropped[i] = f"duplicate_{k}"
            seen.add(h)
    return dropped


def reference_near(rows, threshold, num_perm=64, ngram=5):
    """Sequential MinHash LSH: a row drops when a KEPT earlier row shares a band and its estimated
    Jaccard is >= threshold (what near_dedup did before, with all tables in one dict)."""
    bands, r = lsh_params(threshold, num_perm, 0.9)
    sigs = minhash_batch([x["bn"] + "\t" + x["en"] for x in rows], num_perm, ngram, 1)
    tables = [dict() for _ in range(bands)]
    dropped = set()
    for i, sig in enumerate(sigs):
        keys = [sig[b * r:(b + 1) * r].tobytes() for b in range(bands)]
        cands = {c for t, k in zip(tables, keys) for c in t.get(k, ())}
        if any(np.count_nonzero(sigs[c] == sig) >= threshold * num_perm for c in cands):
            dropped.add(i)
            continue
        for t, k in zip(tables, keys):
            t.setdefault(k, []).append(i)
    return dropped


def _rejected(result):
    return {int(i[1:]): reason for i, reason in zip(result.rejects["id"], result.rejects["reject_reason"])}


@pytest.mark.parametrize("chunk_rows, num_proc, part_bytes", [(100_000, 1, dedup.PART_BYTES), (1500, 2, 4096)])
def test_exact_dedup_equals_in_memory_keep_first(rows, monkeypatch, chunk_rows, num_proc, part_bytes):
    monkeypatch.setattr(dedup, "PART_BYTES", part_bytes)  # 4 KB partitions: many spill files
    res = Pipeline.from_recipe({"steps": [{"step": "exact_dedup", "keys": ["pair", "en"]}]},
                               chunk_rows=chunk_rows, num_proc=num_proc).run(Dataset.from_list(rows))
    expected = reference_exact(rows, ["pair", "en"])
    assert _rejected(res) == expected and len(expected) > 300


@pytest.mark.parametrize("chunk_rows, num_proc, part_bytes, verify_pairs, group_pairs",
                         [(100_000, 1, dedup.PART_BYTES, dedup.VERIFY_PAIRS, dedup.GROUP_PAIRS), (1500, 2, 4096, 7, 1)])
def test_near_dedup_equals_sequential_lsh(rows, monkeypatch, chunk_rows, num_proc, part_bytes, verify_pairs,
                                          group_pairs):
    monkeypatch.setattr(dedup, "PART_BYTES", part_bytes)
    monkeypatch.setattr(dedup, "VERIFY_PAIRS", verify_pairs)  # many verification batches
    monkeypatch.setattr(dedup, "GROUP_PAIRS", group_pairs)  # every bucket of 3+ rows expanded row by row
    res = Pipeline.from_recipe({"steps": [{"step": "near_dedup", "threshold": 0.7}]},
                               chunk_rows=chunk_rows, num_proc=num_proc).run(Dataset.from_list(rows))
    expected = reference_near(rows, 0.7)
    got = _rejected(res)
    assert set(got) == expected and set(got.values()) == {"near_duplicate"}
    assert len(expected) > 600  # the exact copies and most planted variants


def test_near_dedup_keeps_a_chain_middle_rule():
    """A ~ B and B ~ C but A !~ C: B drops (A kept), C stays (its only match B was dropped)."""
    base = "আমি প্রতিদিন সকালে বাজারে যাই এবং তাজা সবজি কিনি।"
    a = "one two three four five six seven eight nine ten eleven twelve"
    b = a + " thirteen fourteen"
    c = b + " fifteen sixteen"
    rows = [{"id": f"r{i}", "bn": base, "en": t} for i, t in enumerate([a, b, c])]
    ref = reference_near(rows, 0.8)
    res = Pipeline.from_recipe({"steps": [{"step": "near_dedup", "threshold": 0.8}]}).run(Dataset.from_list(rows))
    assert set(_rejected(res)) == ref == {1}


@pytest.mark.parametrize("group_pairs", [1, 3, 1 << 20])
def test_bucket_pairs_are_every_pair_of_each_bucket(monkeypatch, group_pairs):
    """Candidate pairs of a sorted band partition: every (earlier, later) row pair sharing a key, once,
    whether a bucket is expanded at once or row by row (huge buckets)."""
    monkeypatch.setattr(dedup, "GROUP_PAIRS", group_pairs)
    rng = np.random.default_rng(5)
    rec = np.empty(300, dtype=dedup._REC)
    rec["k"], rec["r"] = rng.integers(0, 120, 300), rng.permutation(1000)[:300]  # buckets of 1 to ~8 rows
    rec = rec[np.lexsort((rec["r"], rec["k"]))]
    got = [(int(a), int(b)) for i, j in dedup._bucket_pairs(rec) for a, b in zip(i, j)]
    expected = [(int(x["r"]), int(y["r"])) for n, x in enumerate(rec) for y in rec[n + 1:] if x["k"] == y["k"]]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got)) and all(a < b for a, b in got)
