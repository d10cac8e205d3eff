"""Memory of tokenization for training (issue 12 item 1): the on-disk tokenized cache is written from the
input split read as a stream, so the pass does not keep the input's pages in the process's RSS; the cache holds
exactly what in-memory tokenization gives; a training process does not import scikit-learn or SciPy, and Arrow
uses the C library allocator (which returns freed memory at once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _modeling_helpers import REPO, tatoeba_pairs, write_dataset

from bilingual.modeling import data as data_mod


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    from transformers import AutoTokenizer

    from bilingual.modeling.model import HFTransformerModel
    from bilingual.modeling.tokenizer import train_tokenizer

    tmp = tmp_path_factory.mktemp("tok")
    train_tokenizer([p[k] for p in tatoeba_pairs(1500) for k in ("bn", "en")], tmp / "tok", vocab_size=1000)
    return HFTransformerModel.from_preset("tiny", AutoTokenizer.from_pretrained(tmp / "tok"), seed=0)


def _env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "BILINGUAL_QUIET": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf"),
            "OMP_NUM_THREADS": "1"}


def test_cache_holds_what_in_memory_tokenization_gives(hf, tmp_path):
    pairs = tatoeba_pairs(2500) + [{"id": "empty-bn", "bn": "", "en": "no Bengali side"}]
    split = data_mod.load_splits(write_dataset(tmp_path / "ds", pairs), ("train",))["train"]
    assert data_mod._backing_files(split)                # read as a stream, not through the mapped table
    for part in (split, split.select(range(10, 1210))):  # the whole split, and a slice (read through Dataset.iter)
        args = (part, hf, ["bn-en", "en-bn"], 64, 64)
        cached = data_mod.tokenize_split(*args, cache_dir=tmp_path / "cache")
        in_memory = data_mod.tokenize_split(*args)
        assert cached.features == in_memory.features
        assert cached.to_dict() == in_memory.to_dict()
        assert len(cached) == 2 * sum(1 for r in part if r["bn"] and r["en"])
        again = data_mod.tokenize_split(*args, cache_dir=tmp_path / "cache")   # read back, not rewritten
        assert again.cache_files == cached.cache_files and again._fingerprint == cached._fingerprint
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]   # no temporary left


def test_split_without_usable_pairs_gives_an_empty_readable_cache(hf, tmp_path):
    split = data_mod.load_splits(write_dataset(tmp_path / "ds", [{"id": "a", "bn": "", "en": "only English"}]),
                                 ("train",))["train"]
    cached = data_mod.tokenize_split(split, hf, ["bn-en"], 64, 64, cache_dir=tmp_path / "cache")
    assert len(cached) == 0 and set(cached.column_names) == {"input_ids", "attention_mask", "labels", "length",
                                                             "direction"}


MEASURE = r"""
import json, sys
from pathlib import Path
from transformers import AutoTokenizer
from bilingual.modeling import data as data_mod
from bilingual.modeling.model import HFTransformerModel

def mapped_mb(paths):  # resident pages of this process's mappings of these files (/proc/self/smaps)
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
            inside = len(parts) > 5 and parts[5] in paths
        elif inside and parts[0] == "Rss:":
            total += int(parts[1])
    return total / 1024

ds_dir, tok_dir, cache = sys.argv[1:4]
hf = HFTransformerModel.from_preset("tiny", AutoTokenizer.from_pretrained(tok_dir), seed=0)
split = data_mod.load_splits(ds_dir, ("train",))["train"]
inputs = {str(Path(f["filename"]).resolve()) for f in split.cache_files}
before = mapped_mb(inputs)
ds = data_mod.tokenize_split(split, hf, ["bn-en"], 64, 64, cache_dir=cache)
print(json.dumps({"input_mb": sum(Path(f).stat().st_size for f in inputs) / 2**20, "examples": len(ds),
                  "input_pages_mb": mapped_mb(inputs) - before}))
"""


def test_tokenization_pass_does_not_keep_the_input_pages(hf, tmp_path):
    """The pass reads every bn/en string once; through the memory map of the input Arrow file, each page it
    touched stayed in the process's RSS (RssFile) to the end, so RSS grew with the data (issue 12)."""
    pairs = tatoeba_pairs()
    rows = [{"id": str(i), "bn": " ".join(pairs[(7 * i + k) % len(pairs)]["bn"] for k in range(24)),
             "en": " ".join(pairs[(7 * i + k) % len(pairs)]["en"] for k in range(24))} for i in range(10_000)]
    write_dataset(tmp_path / "ds", rows, validation=rows[:10], test=rows[:10])
    hf.tokenizer.save_pretrained(tmp_path / "tok")
    script = tmp_path / "measure.py"
    script.write_text(MEASURE)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "ds"), str(tmp_path / "tok"),
                           str(tmp_path / "cache")], env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["examples"] == len(rows) and r["input_mb"] > 15
    assert r["input_pages_mb"] < 0.1 * r["input_mb"], r


def test_training_process_skips_sklearn_and_scipy_and_uses_the_system_allocator(tmp_path):
    code = ("import sys, bilingual.modeling.train, pyarrow\n"
            "from bilingual.modeling.trainer import BilingualTrainer\n"
            "from transformers import MarianMTModel, Seq2SeqTrainer\n"
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules), "
            "pyarrow.default_memory_pool().backend_name)")
    env = {k: v for k, v in _env(tmp_path).items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[] system"
