"""Training data preparation in its own small process: the Parquet → Arrow conversion (`load_dataset`) and the
tokenization into the on-disk cache (`data.tokenize_split`) of a map-style run, done by

    python -m bilingual.modeling.prepare REQUEST_JSON

which never imports torch or the trainer (transformers is told torch is absent: `USE_TORCH=0`), so its memory
is the data work's alone, not that plus the ~450 MB a training process holds before any data (issue 12: every
process < 500 MB). The training process then finds the converted dataset in the `datasets` cache and the
tokenized files under their usual names and keys, and only memory-maps them.

The request names the tokenizer by where the training process loaded it from (a folder or Hub id) and the
model family by name: the child tokenizes exactly as the training process would, with the same cache key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Optional

from bilingual.modeling import data as data_mod


@dataclass
class PrepareRequest:
    """What the preparing process needs: the data options of the recipe, the tokenizer's source, the family."""
    dataset_name: str
    cache_dir: str
    tokenizer: str
    family: str
    directions: list = field(default_factory=lambda: ["bn-en", "en-bn"])
    max_source_length: int = 128
    max_target_length: int = 128
    eval_split: str = "validation"
    config_name: Optional[str] = None
    max_train_samples: Optional[int] = None
    max_eval_samples: int = 200
    num_proc: Optional[int] = None


class Encoder:
    """A tokenizer and a model family: what `data.encode_directions` and the cache key read from a model,
    without the model (so without torch)."""

    def __init__(self, tokenizer, family):
        self.tokenizer = tokenizer
        self.family = family

    def encode_pair(self, sources, targets, src_lang: str, tgt_lang: str, max_source_length: int = 128,
                    max_target_length: int = 128) -> dict:
        return self.family.encode(self.tokenizer, sources, targets, src_lang, tgt_lang, max_source_length,
                                  max_target_length)


def training_splits(splits: dict, eval_split: str, max_train_samples: Optional[int], max_eval_samples: int,
                    streaming: bool = False):
    """(train split, bounded eval split) as training uses them; one rule for both processes, so that the
    training process computes the same cache keys as the preparing one."""
    train_split = splits["train"]
    if max_train_samples:
        train_split = train_split.take(max_train_samples) if streaming else \
            train_split.select(range(min(max_train_samples, len(train_split))))
    eval_all = splits[eval_split]
    eval_small = eval_all.take(max_eval_samples) if streaming else \
        eval_all.select(range(min(max_eval_samples, len(eval_all))))
    return train_split, eval_small


def tokenize_for_training(req: PrepareRequest, hf_model, train_split, eval_small, cache_only: bool = False):
    """(tokenized train, tokenized eval) of a map-style run, written to `req.cache_dir` when missing and
    memory-mapped from there; with `cache_only` (the training process, after the preparing process ran) a
    missing file is an error rather than tokenized here."""
    args = (hf_model, req.directions, req.max_source_length, req.max_target_length)
    train_ds = data_mod.tokenize_split(train_split, *args, num_proc=req.num_proc, cache_dir=req.cache_dir,
                                       desc="tokenize train", cache_only=cache_only)
    eval_ds = data_mod.tokenize_split(eval_small, *args, cache_dir=req.cache_dir, desc="tokenize dev",
                                      cache_only=cache_only)
    return train_ds, eval_ds


def prepare(req: PrepareRequest, hf_model):
    """The preparing process's work: load the splits (the Parquet → Arrow conversion, once per dataset) and
    tokenize the train split and the bounded eval split into the cache."""
    splits = data_mod.load_splits(req.dataset_name, ("train", req.eval_split), config_name=req.config_name)
    train_split, eval_small = training_splits(splits, req.eval_split, req.max_train_samples, req.max_eval_samples)
    return tokenize_for_training(req, hf_model, train_split, eval_small)


# glibc malloc's mmap threshold grows (up to 32 MB) after large blocks are freed, so later large blocks (Arrow
# buffers of the Parquet -> Arrow conversion) come from the heap, which fragments and is not returned: peak RSS
# of the conversion grew with the input (207 -> 249 MB from 10x to 100x the samples). A fixed 128 KB threshold
# keeps them in their own mappings, returned when freed: 201 -> 216 MB (issue 12).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def child_env() -> dict:
    """The preparing process's environment: transformers (and datasets) told that torch is absent, so that
    loading a tokenizer does not import it (~250 MB); glibc malloc with a fixed mmap threshold (`MALLOC_ENV`)
    unless the user set one; this copy of `bilingual` first on its path (it may be importable here only through
    sys.path)."""
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return {**MALLOC_ENV, **os.environ, "USE_TORCH": "0", "USE_TF": "0", "USE_FLAX": "0", "PYTHONPATH": path,
            "TRANSFORMERS_VERBOSITY": os.environ.get("TRANSFORMERS_VERBOSITY", "error")}


def run_child(req: PrepareRequest) -> None:
    """Prepare the data in a fresh `python -m bilingual.modeling.prepare` process and wait for it. Its progress
    goes to this process's stderr; a data error it finds is raised here as `DataError` with its message."""
    proc = subprocess.run([sys.executable, "-m", "bilingual.modeling.prepare", json.dumps(asdict(req))],
                          stdout=subprocess.PIPE, text=True, env=child_env())
    reply = {}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            break
    if proc.returncode == 0:
        return
    if reply.get("error"):
        raise data_mod.DataError(reply["error"])
    raise RuntimeError(f"data preparation for {req.dataset_name} failed (python -m bilingual.modeling.prepare, "
                       f"exit status {proc.returncode}); its error is printed above")


def use_system_allocator() -> None:
    """Arrow's default allocator (mimalloc) keeps freed memory for reuse: converting the Parquet split to
    Arrow (`load_dataset`) left ~35 MB more peak RSS than the C library's allocator, which returns large
    blocks at once (measured at 10x the samples, issue 12). Not applied when the user chose a pool with
    ARROW_DEFAULT_MEMORY_POOL."""
    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m bilingual.modeling.prepare REQUEST_JSON", file=sys.stderr)
        return 2
    use_system_allocator()
    from bilingual.console import quiet, set_quiet
    from bilingual.modeling.families import FAMILIES

    set_quiet(quiet())   # the training command's --quiet reaches here as BILINGUAL_QUIET

    try:
        req = PrepareRequest(**json.loads(argv[0]))
        from transformers import AutoTokenizer

        encoder = Encoder(AutoTokenizer.from_pretrained(req.tokenizer), FAMILIES[req.family])
        train_ds, eval_ds = prepare(req, encoder)
        if len(train_ds) == 0:
            raise data_mod.DataError(f"{req.dataset_name}: split 'train' has no usable bn/en pairs")
    except (data_mod.DataError, OSError) as err:   # OSError: a tokenizer folder that cannot be read
        print(json.dumps({"error": " ".join(str(err).split())}), flush=True)
        return 2
    print(json.dumps({"train": train_ds.cache_files[0]["filename"], "train_examples": len(train_ds),
                      "eval": eval_ds.cache_files[0]["filename"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
