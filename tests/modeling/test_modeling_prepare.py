"""Training data prepared in a child process without torch (issue 12 item 1: every process < 500 MB): the child
writes the same tokenized cache, byte for byte and under the same key, as tokenizing in the training process
did; a run through it trains the same model; its failure names the file; and the epoch's pages of the mapped
cache are released as training reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _modeling_helpers import REPO, shared_tokenizer_dir, tatoeba_pairs, tiny_config, write_dataset

from bilingual.modeling import data as data_mod
from bilingual.modeling import prepare
from bilingual.modeling.data import DataError
from bilingual.modeling.train import train

PAIRS = tatoeba_pairs(300)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds"), PAIRS[:240], validation=PAIRS[240:])


@pytest.fixture(scope="module")
def hf():
    from transformers import AutoTokenizer

    from bilingual.modeling.model import HFTransformerModel

    return HFTransformerModel.from_preset("tiny", AutoTokenizer.from_pretrained(shared_tokenizer_dir()), seed=0)


def _request(ds, cache_dir, **extra) -> prepare.PrepareRequest:
    return prepare.PrepareRequest(dataset_name=str(ds), cache_dir=str(cache_dir), tokenizer=str(shared_tokenizer_dir()),
                                  family="marian", max_source_length=64, max_target_length=64, max_eval_samples=20,
                                  **extra)


def test_child_writes_the_cache_tokenizing_in_process_wrote(ds, hf, tmp_path):
    """Same file names (keys) and bytes as the previous path: `tokenize_split` in the training process."""
    req = _request(ds, tmp_path / "child", max_train_samples=200)
    prepare.run_child(req)
    splits = data_mod.load_splits(ds, ("train", "validation"))
    train_split, eval_small = prepare.training_splits(splits, "validation", 200, 20)
    args = (hf, req.directions, 64, 64)
    before = [data_mod.tokenize_split(train_split, *args, cache_dir=tmp_path / "in-process"),
              data_mod.tokenize_split(eval_small, *args, cache_dir=tmp_path / "in-process")]
    child = sorted((tmp_path / "child").glob("tokenized-*.arrow"))
    assert [p.name for p in child] == sorted(Path(d.cache_files[0]["filename"]).name for d in before)
    for path in child:
        assert path.read_bytes() == (tmp_path / "in-process" / path.name).read_bytes()
    assert len(before[0]) == 2 * 200 and len(before[1]) == 2 * 20
    # the training process then only maps them
    train_ds, eval_ds = prepare.tokenize_for_training(req, hf, train_split, eval_small, cache_only=True)
    assert train_ds.to_dict() == before[0].to_dict() and eval_ds.to_dict() == before[1].to_dict()
    with pytest.raises(RuntimeError, match="not written by the preparing process"):
        prepare.tokenize_for_training(_request(ds, tmp_path / "empty"), hf, train_split, eval_small, cache_only=True)


def test_child_does_not_import_torch(ds, tmp_path):
    code = ("import sys, json\nfrom bilingual.modeling import prepare\n"
            "rc = prepare.main(sys.argv[1:2])\n"
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))")
    req = json.dumps(vars(_request(ds, tmp_path / "cache")))
    env = {**prepare.child_env(), "PYTHONPATH": str(REPO), "HF_DATASETS_CACHE": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", code, req], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "torch": False}
    assert len(list((tmp_path / "cache").glob("tokenized-*.arrow"))) == 2


def test_a_run_through_the_child_trains_what_the_in_process_cache_trains(ds, hf, tmp_path):
    """The same seeded run twice: with the cache written by the child (the new path), and with the cache
    tokenized beforehand in this process (the previous path's file; the child then finds it and writes
    nothing): the same tokenized bytes give the same weights and losses."""
    from safetensors.torch import load_file

    cfg = dict(max_steps=4, eval_steps=4, save_steps=4, max_source_length=64, max_target_length=64)
    new = train(tiny_config(ds, tmp_path / "new", **cfg))

    old_cache = tmp_path / "old" / ".tokenized"
    splits = data_mod.load_splits(ds, ("train", "validation"))
    train_split, eval_small = prepare.training_splits(splits, "validation", None, 8)
    for part in (train_split, eval_small):
        data_mod.tokenize_split(part, hf, ["bn-en", "en-bn"], 64, 64, cache_dir=old_cache)
    written = {p.name: p.stat().st_mtime_ns for p in old_cache.glob("tokenized-*.arrow")}
    old = train(tiny_config(ds, tmp_path / "old", **cfg))

    assert {p.name: p.stat().st_mtime_ns for p in old_cache.glob("tokenized-*.arrow")} == written   # not rewritten
    new_files = {p.name: p.read_bytes() for p in (tmp_path / "new" / ".tokenized").glob("tokenized-*.arrow")}
    assert new_files == {p.name: p.read_bytes() for p in old_cache.glob("tokenized-*.arrow")}
    wa, wb = load_file(tmp_path / "new" / "model.safetensors"), load_file(tmp_path / "old" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    losses = [[h["loss"] for h in r["log_history"] if "loss" in h] for r in (new, old)]
    assert losses[0] and losses[0] == losses[1]


def test_child_failure_names_the_unreadable_file(tmp_path):
    root = write_dataset(tmp_path / "ds", PAIRS[:40], validation=PAIRS[40:60])
    bad = sorted((root / "dataset").glob("validation*.parquet"))[0]
    bad.write_bytes(b"PAR1 this is not a Parquet file")
    with pytest.raises(DataError, match=f"{bad}: split 'validation' has an unreadable Parquet file"):
        prepare.run_child(_request(root, tmp_path / "cache"))
    with pytest.raises(DataError, match=f"{bad}: split 'validation' has an unreadable Parquet file"):
        train(tiny_config(root, tmp_path / "run"))
    assert not list((tmp_path / "run" / ".tokenized").glob("tokenized-*"))


EPOCH = r"""
import json, random, sys
from datasets import Dataset
from bilingual.modeling import data as data_mod

path, bounded = sys.argv[1], sys.argv[2] == "1"
ds = Dataset.from_file(path)
reader = data_mod.PageBoundedDataset(ds, budget=2 << 20) if bounded else ds
order = list(range(len(ds)))
random.Random(0).shuffle(order)
start = data_mod.file_backed_rss()
growth = 0
for i in order:   # one row per read, as the smallest batch
    rows = reader.__getitems__([i])
    assert len(rows) == 1 and rows[0]["input_ids"]
    growth = max(growth, data_mod.file_backed_rss() - start)
print(json.dumps({"growth_mb": growth / 2**20, "releases": getattr(reader, "releases", 0)}))
"""


def test_epoch_pages_of_the_mapped_cache_are_released(hf, tmp_path):
    """Reading every row once in random order (an epoch) through the memory map left every page of the file
    resident (RSS grew with the data); through `PageBoundedDataset` the growth stays near its budget, and the
    rows read are the same."""
    pairs = tatoeba_pairs()
    rows = [{"id": str(i), "bn": " ".join(pairs[(7 * i + k) % len(pairs)]["bn"] for k in range(12)),
             "en": " ".join(pairs[(7 * i + k) % len(pairs)]["en"] for k in range(12))} for i in range(6000)]
    split = data_mod.load_splits(write_dataset(tmp_path / "ds", rows, validation=rows[:5]), ("train",))["train"]
    cached = data_mod.tokenize_split(split, hf, ["bn-en", "en-bn"], 128, 128, cache_dir=tmp_path / "cache")
    path = os.path.realpath(cached.cache_files[0]["filename"])
    size_mb = os.path.getsize(path) / 2**20
    assert size_mb > 12
    bounded = data_mod.PageBoundedDataset(cached)
    assert bounded.__getitems__([3, 1, 2]) == cached.__getitems__([3, 1, 2]) and len(bounded) == len(cached)
    runs = {}
    for flag in ("0", "1"):
        proc = subprocess.run([sys.executable, "-c", EPOCH, path, flag], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[flag] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert runs["0"]["growth_mb"] > 0.8 * size_mb, runs          # unbounded: the whole file ends up resident
    assert runs["1"]["growth_mb"] < 0.5 * size_mb, runs          # bounded: the 2 MB budget + one row's pages
    assert runs["1"]["releases"] > 2, runs
