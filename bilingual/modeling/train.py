"""Training: a recipe (`args.TrainConfig`) → BilingualTrainer run → best checkpoint (by dev chrF) in
`output_dir`, with the tokenizer and `train_results.json` beside it.

Works the same under `python scripts/train.py`, `bilingual train` and `accelerate launch scripts/train.py`
(one CPU to many GPUs; DDP/FSDP/DeepSpeed come from the Accelerate config and the training arguments).

Runs are safe to interrupt: a run killed before its first checkpoint starts over by itself; a killed run
with checkpoints resumes from the last intact one (a torn `trainer_state.json` or weight file is named and
skipped); a folder holding a finished run, or a checkpoint made by a different model, is refused.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

from bilingual.modeling import data as data_mod
from bilingual.modeling import prepare as prepare_mod
from bilingual.modeling.args import ConfigError, TrainConfig, config_from_dict, load_config, validate  # noqa: F401
from bilingual.modeling.model import HFTransformerModel

RUN_META = "bilingual_run.json"
RESULTS = "train_results.json"


def skip_unused_optional_imports() -> None:
    """Tell transformers that scikit-learn and SciPy are absent, so that loading its generation and trainer
    modules does not import them: it imports them whenever they are installed (sklearn for assisted
    generation's adaptive threshold, SciPy for object-detection losses), training a translation model uses
    neither, and together they cost every training process ~70 MB of RSS (issue 12: < 500 MB per process).
    Called when this module is imported, before anything loads those modules; once loaded it changes
    nothing. transformers is pinned (4.57.x), whose `import_utils` holds these two flags."""
    import transformers.utils.import_utils as available

    available._sklearn_available = False
    available._scipy_available = False


skip_unused_optional_imports()
prepare_mod.use_system_allocator()


# ----------------------------------------------------------------------------------- checkpoints
def _step(path: Path) -> Optional[int]:
    try:
        return int(path.name.split("-")[-1])
    except ValueError:
        return None


def checkpoint_problem(path: Path) -> Optional[str]:
    """Why a checkpoint folder cannot be resumed from (None: intact). `trainer_state.json` is written last,
    so a folder without it was cut short; a torn JSON or weight file means the write was interrupted."""
    state = path / "trainer_state.json"
    if not state.exists():
        return f"{state} is missing (the checkpoint was not finished)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"{state} is torn or unreadable ({type(err).__name__})"
    weights = path / "model.safetensors"
    if weights.exists():
        try:
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as fh:
                fh.keys()
        except Exception as err:  # noqa: BLE001 - safetensors raises several types for a torn file
            return f"{weights} is torn or unreadable ({type(err).__name__})"
    elif not (path / "pytorch_model.bin").exists():
        return f"{path} has no model weights"
    return None


def complete_checkpoints(output_dir, report=None) -> list[Path]:
    """Intact checkpoints, oldest first; `report(message)` is told about each one skipped and why."""
    found = sorted((s, p) for p in Path(output_dir).glob("checkpoint-*") if (s := _step(p)) is not None)
    out = []
    for _, p in found:
        problem = checkpoint_problem(p)
        if problem is None:
            out.append(p)
        elif report is not None:
            report(problem)
    return out


def _fingerprint_mismatch(expected: dict, found: dict) -> list[str]:
    return [f"{k}: run has {found.get(k)!r}, this config builds {v!r}" for k, v in expected.items()
            if k in found and found.get(k) != v]


def check_resumable(output_dir: Path, checkpoint: Path, fingerprint: dict) -> None:
    """Refuse to resume from a checkpoint made by a different model."""
    from bilingual.modeling.families import family_for

    problems = []
    meta = output_dir / RUN_META
    if meta.exists():
        problems += _fingerprint_mismatch(fingerprint, json.loads(meta.read_text()).get("fingerprint", {}))
    cfg_path = checkpoint / "config.json"
    if cfg_path.exists():
        c = json.loads(cfg_path.read_text())
        found = family_for(c).fingerprint(c)
        problems += _fingerprint_mismatch({k: v for k, v in fingerprint.items() if k in found}, found)
    if problems:
        raise ConfigError(f"{checkpoint} was made by a different model and cannot be resumed "
                          f"({'; '.join(dict.fromkeys(problems))}); use another output_dir "
                          "or set resume: never with overwrite_output_dir: true")


# ------------------------------------------------------------------------------------------ state
def _state():
    """The process-wide Accelerate state, created with `cpu=` set before anything else touches it: it is a
    singleton, and one made without `cpu=True` on a GPU-less machine ignores a torchrun world and runs each
    process alone (instead of gloo DDP)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _say(message: str) -> None:
    if _state().is_main_process:
        print(f"train: {message}", file=sys.stderr, flush=True)


def _prepare_output_dir(cfg: TrainConfig) -> tuple[Path, Optional[Path]]:
    """The run directory and the checkpoint to resume from (None: start fresh)."""
    t = cfg.training
    out = Path(t.output_dir)
    if t.resume not in ("auto", "never"):
        ckpt = Path(t.resume)
        problem = checkpoint_problem(ckpt)
        if problem:
            raise ConfigError(f"resume: {problem}")
        return out, ckpt
    if t.resume == "auto" and out.exists():
        ckpts = complete_checkpoints(out, report=lambda p: _say(f"skipping {p}"))
        if ckpts:
            return out, ckpts[-1]
    leftovers = list(out.glob("checkpoint-*")) if out.exists() else []
    finished = (out / RESULTS).exists()
    unfinished = (out / RUN_META).exists() and not finished
    if (finished or (leftovers and t.resume == "never")) and not t.overwrite_output_dir:
        what = "a finished run" if finished else "a previous run"
        raise ConfigError(f"{out} holds {what} (resume: {t.resume}); use another output_dir or set "
                          "overwrite_output_dir: true to start over")
    if t.overwrite_output_dir or unfinished or leftovers:
        # nothing resumable is lost: either asked for, or a run killed before its first intact checkpoint
        if (unfinished or leftovers) and not t.overwrite_output_dir:
            _say(f"{out}: the previous run stopped before its first intact checkpoint; starting over")
        if _state().is_main_process:
            import shutil

            for p in leftovers + [out / "tokenizer", out / ".tokenized"]:   # the old run's own may not fit
                shutil.rmtree(p, ignore_errors=True)
            for name in (RUN_META, RESULTS):
                (out / name).unlink(missing_ok=True)
        _state().wait_for_everyone()
    return out, None


def _load_splits(cfg: TrainConfig) -> dict:
    d = cfg.data
    return data_mod.load_splits(d.dataset_name, ("train", d.eval_split), streaming=d.streaming,
                                config_name=d.dataset_config_name)


def _tokenizer_source(cfg: TrainConfig, out: Path) -> str:
    """Where the run's tokenizer is loaded from (the preparing process loads the same one)."""
    return cfg.model.tokenizer_name or cfg.model.model_name_or_path or str(out / "tokenizer")


def _tokenizer_for(cfg: TrainConfig, out: Path, splits=None):
    """A given tokenizer, the run's own (when resuming), or one trained now on the train split (read from its
    Parquet files; other layouts through `load_splits`, loaded here when `splits` is None)."""
    from transformers import AutoTokenizer

    from bilingual.modeling.tokenizer import dataset_parquet_files, train_tokenizer, train_tokenizer_from_parquet

    if cfg.model.tokenizer_name:
        return AutoTokenizer.from_pretrained(cfg.model.tokenizer_name)
    own = out / "tokenizer"
    with _state().main_process_first():
        if not (own / "tokenizer.json").exists() and _state().is_main_process:
            try:
                files = dataset_parquet_files(cfg.data.dataset_name, "train")
                train_tokenizer_from_parquet(files, own, vocab_size=cfg.model.vocab_size)
            except (FileNotFoundError, ValueError):
                ds = (splits or _load_splits(cfg))["train"]

                def texts():
                    for row in ds:
                        yield row["bn"]
                        yield row["en"]

                train_tokenizer(texts, own, vocab_size=cfg.model.vocab_size)
    return AutoTokenizer.from_pretrained(own)


def _dev_sets(split, directions, limit: int) -> dict:
    rows = []
    for row in split:
        if row.get("bn") and row.get("en"):
            rows.append(row)
        if len(rows) >= limit:
            break
    out = {}
    for direction in directions:
        src, tgt = data_mod.parse_direction(direction)
        out[direction] = ([r[src] for r in rows], [r[tgt] for r in rows])
    return out


def load_model(cfg: TrainConfig, out: Path, splits=None) -> HFTransformerModel:
    m, t = cfg.model, cfg.training
    from transformers import set_seed

    set_seed(t.seed)
    if m.model_name_or_path:
        hf = HFTransformerModel.from_pretrained(m.model_name_or_path, tokenizer_path=m.tokenizer_name)
    else:
        hf = HFTransformerModel.from_preset(m.preset, _tokenizer_for(cfg, out, splits), seed=t.seed,
                                            dropout=m.dropout)
    if m.dropout is not None and hasattr(hf.model.config, "dropout"):
        hf.model.config.dropout = m.dropout
    return hf


def prepare_request(cfg: TrainConfig, hf: HFTransformerModel, out: Path) -> prepare_mod.PrepareRequest:
    d = cfg.data
    return prepare_mod.PrepareRequest(
        dataset_name=str(d.dataset_name), cache_dir=str(out / ".tokenized"), tokenizer=_tokenizer_source(cfg, out),
        family=hf.family.name, directions=list(d.directions), max_source_length=d.max_source_length,
        max_target_length=d.max_target_length, eval_split=d.eval_split, config_name=d.dataset_config_name,
        max_train_samples=d.max_train_samples, max_eval_samples=d.max_eval_samples,
        num_proc=d.preprocessing_num_workers)


def prepare_train_data(cfg: TrainConfig, hf: HFTransformerModel, splits, out: Path):
    """(train dataset, batch sampler or None, eval dataset, dev sets) for this process.

    Map-style: the main process has the data converted and tokenized into `out/.tokenized/` by a child process
    that does not import torch (`bilingual.modeling.prepare`), then every process memory-maps those files (the
    others after the main one is done). `splits` may be None: they are loaded after that child ran (from the
    `datasets` cache it filled), so the training process never holds the conversion's memory.
    Streaming: the stream is split by node (`split_dataset_by_node`), so each process reads its own part."""
    d, t = cfg.data, cfg.training
    state = _state()
    req = prepare_request(cfg, hf, out)
    if not d.streaming:
        with state.main_process_first():
            if state.is_main_process:
                prepare_mod.run_child(req)
    if splits is None:
        splits = _load_splits(cfg)
    train_split, eval_small = prepare_mod.training_splits(splits, d.eval_split, d.max_train_samples,
                                                          d.max_eval_samples, streaming=d.streaming)
    dev_sets = _dev_sets(eval_small, d.directions, d.max_eval_samples)
    tok_args = (hf, d.directions, d.max_source_length, d.max_target_length)
    if d.streaming:
        stream = data_mod.split_by_node(train_split, state.process_index, state.num_processes)
        stream = stream.shuffle(seed=t.seed, buffer_size=d.shuffle_buffer)
        stream = data_mod.tokenize_split(stream, *tok_args)
        train_ds = data_mod.as_torch_iterable(data_mod.LengthGroupedIterable(
            stream, t.per_device_train_batch_size, t.seed, group=d.batching != "plain"))
        with state.main_process_first():
            eval_ds = data_mod.tokenize_split(data_mod.materialize(eval_small), *tok_args, cache_dir=req.cache_dir,
                                              desc="tokenize dev")
    else:
        train_ds, eval_ds = prepare_mod.tokenize_for_training(req, hf, train_split, eval_small, cache_only=True)
        if len(train_ds) == 0:
            raise data_mod.DataError(f"{d.dataset_name}: split 'train' has no usable bn/en pairs")
    batch_sampler = None
    if not d.streaming and d.batching == "token_budget":
        batch_sampler = data_mod.TokenBudgetBatchSampler(data_mod.example_lengths(train_ds),
                                                         max_tokens=d.max_tokens,
                                                         max_sentences=t.per_device_train_batch_size, seed=t.seed)
    return train_ds, batch_sampler, eval_ds, dev_sets


# ------------------------------------------------------------------------------------------ train
def train(config: TrainConfig | dict | str | os.PathLike, callbacks: Optional[list] = None,
          wrap_collator=None) -> dict:
    """Run a training recipe; returns what the run report needs (written to OUTPUT_DIR/train_results.json;
    empty on processes other than the main one). `callbacks`: extra TrainerCallbacks;
    `wrap_collator(collator) -> collator`: e.g. a FLOP counter."""
    import torch
    from transformers import EarlyStoppingCallback

    from bilingual.modeling.trainer import BilingualTrainer

    if isinstance(config, dict):
        config = config_from_dict(config)
    elif not isinstance(config, TrainConfig):
        config = load_config(config)
    else:
        validate(config)
    cfg = config
    d, t = cfg.data, cfg.training

    _state()   # before anything else touches Accelerate (see _state)
    # map-style data is loaded after a child process prepared it (prepare_train_data); a stream costs nothing
    splits = _load_splits(cfg) if d.streaming else None
    out, resume_from = _prepare_output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    _set_cpu_threads(t.cpu_threads)
    os.environ["ACCELERATE_MIXED_PRECISION"] = t.precision

    hf = load_model(cfg, out, splits)
    fingerprint = hf.fingerprint()
    if resume_from is not None:
        check_resumable(out, resume_from, fingerprint)
    train_ds, batch_sampler, eval_ds, dev_sets = prepare_train_data(cfg, hf, splits, out)

    # what the recipe cannot hold: set from the data options
    t.group_by_length = not d.streaming and d.batching == "length_grouped"
    t.length_column_name = "length"
    t.predict_with_generate = False
    if d.streaming:
        t.accelerator_config.dispatch_batches = False

    cbs = list(callbacks or [])
    if t.early_stopping_patience:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    collator = data_mod.PadCollator(hf.tokenizer.pad_token_id, pad_to_multiple_of=8 if torch.cuda.is_available() else None,
                                    decoder_start_token_id=hf.model.config.decoder_start_token_id)
    if wrap_collator is not None:
        collator = wrap_collator(collator)
    trainer = BilingualTrainer(model=hf.model, args=t, train_dataset=train_ds, eval_dataset=eval_ds,
                               processing_class=hf.tokenizer, data_collator=collator, callbacks=cbs,
                               batch_sampler=batch_sampler, dev_sets=dev_sets, own_stream=d.streaming)

    hyper = {"preset": hf.preset, "family": hf.family.name, "learning_rate": t.learning_rate,
             "lr_scheduler_type": str(getattr(t.lr_scheduler_type, "value", t.lr_scheduler_type)),
             "warmup_steps": t.warmup_steps, "max_steps": t.max_steps, "num_train_epochs": t.num_train_epochs,
             "batching": d.batching, "max_tokens": d.max_tokens, "batch_size": t.per_device_train_batch_size,
             "directions": list(d.directions), "label_smoothing": t.label_smoothing_factor, "seed": t.seed,
             "mixed_precision": t.precision, "world_size": t.world_size, "distributed_backend": _dist_backend(),
             "cpu_threads": torch.get_num_threads() if not torch.cuda.is_available() else None,
             "gradient_accumulation_steps": t.gradient_accumulation_steps,
             "mean_sentences_per_batch": (len(train_ds) / len(batch_sampler)) if batch_sampler
             else t.per_device_train_batch_size}
    if t.should_save:
        from bilingual.storage import write_json

        write_json(out / RUN_META, {"fingerprint": fingerprint, "config": cfg.to_dict(), "hyperparameters": hyper})

    train_out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    total_tokens = trainer.flush_tokens()
    runtime = train_out.metrics.get("train_runtime") or 0.0
    trainer.save_model(str(out))   # the best model (by dev chrF) was loaded at the end: it is the run's model
    result = {}
    if t.should_save:
        from bilingual.storage import write_json

        hf.tokenizer.save_pretrained(str(out))
        result = {
            "output_dir": str(out), "best_checkpoint": trainer.state.best_model_checkpoint,
            "best_metric": trainer.state.best_metric, "best_step": trainer.state.best_global_step,
            "parameters": hf.num_parameters(), "preset": hf.preset, "model_type": hf.model_type,
            "family": hf.family.name, "hyperparameters": hyper, "log_history": trainer.state.log_history,
            "tokens_per_second": (total_tokens / runtime) if runtime else None,
            "tokens": total_tokens, "global_step": trainer.state.global_step, "world_size": t.world_size,
            "resumed_from": str(resume_from) if resume_from else None, "signatures": trainer.signatures,
            "train_runtime": runtime,
        }
        write_json(out / "bilingual_model.json", {**hf.describe(), "source": hf.source})
        write_json(out / RESULTS, result)
    trainer.accelerator.wait_for_everyone()
    return result


def _dist_backend() -> Optional[str]:
    import torch.distributed as dist

    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def _set_cpu_threads(requested: Optional[int]) -> int:
    """On CPU, more torch threads than free cores makes each step several times slower (threads wait
    for each other while descheduled), so by default use the cores the load average leaves free."""
    import torch

    if torch.cuda.is_available():
        return torch.get_num_threads()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    cores = os.cpu_count() or 1
    if requested is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
        requested = int(max(1, min(cores, round(cores - busy))) // local) or 1
    torch.set_num_threads(max(1, requested))
    return torch.get_num_threads()
