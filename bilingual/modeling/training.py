"""Training: a YAML recipe → Seq2SeqTrainer run → best checkpoint (by dev chrF) in `output_dir`.

Works the same under `python scripts/train.py` and `accelerate launch scripts/train.py` (one CPU to
many GPUs; DDP/FSDP come from the Accelerate config, never from code here).

What this adds to a plain `run_translation.py` setup, and why:
- token-budget (or length-grouped) batches with dynamic padding: compute goes into real tokens;
- evaluation by greedy generation on a bounded dev subset, chrF primary (Bangla BLEU with the 13a
  tokenizer under-scores), BLEU beside it, both with sacreBLEU signatures;
- tokens/s (real source+target tokens, not padding) logged with loss/lr to TensorBoard;
- config checked before anything heavy runs; a run directory made by a different model refuses to resume.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bilingual.modeling import data as data_mod
from bilingual.modeling.model import PRESETS, HFTransformerModel, generate_texts

RUN_META = "bilingual_run.json"
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
BATCHING = ("token_budget", "length_grouped", "plain")


class ConfigError(ValueError):
    """A training recipe that cannot work; raised before training starts."""


# ------------------------------------------------------------------------------------------ config
@dataclass
class ModelConfig:
    preset: Optional[str] = "tiny"          # tiny | small | base (ignored when `pretrained` is set)
    pretrained: Optional[str] = None        # local checkpoint dir (Marian, mBART-50, mT5, or one of ours)
    tokenizer: Optional[str] = None         # trained tokenizer dir; None: train one on the train split
    vocab_size: int = 8000                  # for a tokenizer trained here
    dropout: Optional[float] = None         # override the preset's dropout


@dataclass
class DataConfig:
    dataset_dir: str = ""                   # processed dataset (DIR/dataset/ or DIR), splits train/validation
    directions: list = field(default_factory=lambda: ["bn-en", "en-bn"])
    max_source_length: int = 128
    max_target_length: int = 128
    streaming: bool = False                 # IterableDataset with a shuffle buffer (needs max_steps)
    shuffle_buffer: int = 10_000
    batching: str = "token_budget"          # token_budget | length_grouped | plain (streaming: token_budget
                                            # and length_grouped both sort a shuffle buffer into batch_size runs)
    max_tokens: int = 4096                  # padded tokens per device batch (token_budget)
    batch_size: int = 32                    # sentences per device batch (cap for token_budget)
    max_train_samples: Optional[int] = None
    max_eval_samples: int = 200             # bounded dev subset for loss + generation metrics
    eval_split: str = "validation"
    num_proc: Optional[int] = None


@dataclass
class TrainingConfig:
    output_dir: str = "runs/train"
    seed: int = 42
    max_steps: int = -1
    num_train_epochs: float = 3.0
    learning_rate: float = 5e-4
    lr_scheduler_type: str = "inverse_sqrt"
    warmup_steps: int = 100
    weight_decay: float = 0.0
    label_smoothing: float = 0.1
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    eval_batch_size: int = 64
    logging_steps: int = 50
    eval_steps: int = 200
    save_steps: int = 200                   # a multiple of eval_steps (best-checkpoint selection)
    save_total_limit: int = 3
    early_stopping_patience: Optional[int] = 5   # evaluations without a chrF gain; None: off
    eval_num_beams: int = 1
    eval_max_new_tokens: int = 128
    mixed_precision: str = "auto"           # auto | no | fp16 | bf16 (auto: bf16/fp16 on GPU, fp32 on CPU)
    resume: str = "auto"                    # auto (last complete checkpoint) | never | <checkpoint dir>
    overwrite_output_dir: bool = False
    report_to: list = field(default_factory=lambda: ["tensorboard"])
    dataloader_num_workers: int = 0
    cpu_threads: Optional[int] = None       # torch threads per process on CPU; None: cores not busy / processes
    extra_args: dict = field(default_factory=dict)  # passed through to Seq2SeqTrainingArguments


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    source: Optional[str] = None            # where the config came from (for messages)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source", None)
        return d


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "training": TrainingConfig}


def _check_type(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _check_type(value, inner, where)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false (got {value!r})")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer (got {value!r})")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number (got {value!r})")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string (got {value!r})")
        return value
    if annotation is list or origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list (got {value!r})")
        return list(value)
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping (got {value!r})")
        return dict(value)
    return value


def config_from_dict(raw: dict, source: str = "<config>") -> TrainConfig:
    """Build and validate a config; unknown sections/keys and impossible values raise ConfigError."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with sections {', '.join(_SECTIONS)}")
    unknown = [k for k in raw if k not in _SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(map(str, unknown))} "
                          f"(expected {', '.join(_SECTIONS)})")
    built = {}
    for name, cls in _SECTIONS.items():
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: section {name!r} must be a mapping")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        bad = [k for k in section if k not in names]
        if bad:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in bad)} "
                              f"(known: {', '.join(sorted(names))})")
        values = {k: _check_type(v, hints[k], f"{source}: {name}.{k}") for k, v in section.items()}
        built[name] = cls(**values)
    cfg = TrainConfig(**built, source=source)
    validate(cfg)
    return cfg


def load_config(path, overrides: Optional[list[str]] = None) -> TrainConfig:
    """Read a YAML recipe; `overrides` are `section.key=value` strings (value parsed as YAML)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        section, _, name = key.partition(".")
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
        raw.setdefault(section, {})[name] = yaml.safe_load(value)
    return config_from_dict(raw, str(path))


def validate(cfg: TrainConfig) -> None:
    src = cfg.source or "<config>"
    m, d, t = cfg.model, cfg.data, cfg.training

    def fail(msg):
        raise ConfigError(f"{src}: {msg}")

    if m.pretrained is None and m.preset not in PRESETS:
        fail(f"model.preset must be one of {', '.join(PRESETS)} (got {m.preset!r}) or set model.pretrained")
    if m.pretrained is not None and not (Path(m.pretrained) / "config.json").exists():
        fail(f"model.pretrained {m.pretrained} is not a local checkpoint (no config.json); nothing is downloaded")
    if m.tokenizer is not None and not Path(m.tokenizer).is_dir():
        fail(f"model.tokenizer {m.tokenizer} is not a directory")
    if m.vocab_size < 64:
        fail(f"model.vocab_size must be >= 64 (got {m.vocab_size})")
    if m.dropout is not None and not 0 <= m.dropout < 1:
        fail(f"model.dropout must be in [0, 1) (got {m.dropout})")
    if not d.dataset_dir:
        fail("data.dataset_dir is required")
    if not d.directions:
        fail("data.directions must name at least one of bn-en, en-bn")
    for direction in d.directions:
        try:
            data_mod.parse_direction(direction)
        except ValueError as err:
            fail(f"data.directions: {err}")
    if len(set(d.directions)) != len(d.directions):
        fail("data.directions has duplicates")
    if d.batching not in BATCHING:
        fail(f"data.batching must be one of {', '.join(BATCHING)} (got {d.batching!r})")
    for key in ("max_source_length", "max_target_length", "max_tokens", "batch_size", "max_eval_samples",
                "shuffle_buffer"):
        if getattr(d, key) < 1:
            fail(f"data.{key} must be positive (got {getattr(d, key)})")
    if d.batching == "token_budget" and d.max_tokens < max(d.max_source_length, d.max_target_length):
        fail(f"data.max_tokens ({d.max_tokens}) is smaller than one maximal-length example "
             f"({max(d.max_source_length, d.max_target_length)} tokens)")
    if d.max_train_samples is not None and d.max_train_samples < 1:
        fail(f"data.max_train_samples must be positive (got {d.max_train_samples})")
    if d.streaming and t.max_steps <= 0:
        fail("data.streaming needs training.max_steps > 0 (a stream has no length)")
    if t.max_steps <= 0 and t.num_train_epochs <= 0:
        fail("set training.max_steps > 0 or training.num_train_epochs > 0")
    if not t.learning_rate > 0 or t.learning_rate > 1:
        fail(f"training.learning_rate must be in (0, 1] (got {t.learning_rate})")
    for key in ("logging_steps", "eval_steps", "save_steps", "save_total_limit", "eval_batch_size",
                "gradient_accumulation_steps", "eval_num_beams", "eval_max_new_tokens"):
        if getattr(t, key) < 1:
            fail(f"training.{key} must be positive (got {getattr(t, key)})")
    for key in ("warmup_steps", "dataloader_num_workers"):
        if getattr(t, key) < 0:
            fail(f"training.{key} must be >= 0 (got {getattr(t, key)})")
    if t.save_steps % t.eval_steps:
        fail(f"training.save_steps ({t.save_steps}) must be a multiple of training.eval_steps ({t.eval_steps}) "
             "so that every checkpoint has a dev chrF")
    if not 0 <= t.label_smoothing < 1:
        fail(f"training.label_smoothing must be in [0, 1) (got {t.label_smoothing})")
    if t.early_stopping_patience is not None and t.early_stopping_patience < 1:
        fail(f"training.early_stopping_patience must be >= 1 or null (got {t.early_stopping_patience})")
    if t.cpu_threads is not None and t.cpu_threads < 1:
        fail(f"training.cpu_threads must be >= 1 or null (got {t.cpu_threads})")
    if t.mixed_precision not in MIXED_PRECISION:
        fail(f"training.mixed_precision must be one of {', '.join(MIXED_PRECISION)} (got {t.mixed_precision!r})")
    if t.mixed_precision == "fp16":
        import torch

        if not torch.cuda.is_available():
            fail("training.mixed_precision fp16 needs a CUDA device (use auto, no or bf16)")
    from transformers.trainer_utils import SchedulerType

    if t.lr_scheduler_type not in [s.value for s in SchedulerType]:
        fail(f"training.lr_scheduler_type {t.lr_scheduler_type!r} unknown "
             f"(one of {', '.join(s.value for s in SchedulerType)})")
    if t.resume not in ("auto", "never") and not Path(t.resume).is_dir():
        fail(f"training.resume must be auto, never or a checkpoint directory (got {t.resume!r})")
    if not t.output_dir:
        fail("training.output_dir is required")
    reserved = {"output_dir", "eval_strategy", "save_strategy", "load_best_model_at_end", "metric_for_best_model",
                "greater_is_better", "predict_with_generate", "fp16", "bf16"}
    clash = sorted(reserved & set(t.extra_args))
    if clash:
        fail(f"training.extra_args may not set {', '.join(clash)} (set by the trainer or by other keys)")


def resolve_precision(requested: str) -> str:
    """auto → bf16 where the GPU supports it, fp16 on other GPUs, fp32 ('no') on CPU; an Accelerate
    launch config that names a precision wins over auto."""
    import torch

    if requested != "auto":
        return requested
    env = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if env in ("fp16", "bf16"):
        return env
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


# ----------------------------------------------------------------------------------- checkpoints
def complete_checkpoints(output_dir) -> list[Path]:
    """Checkpoints that were fully written (trainer_state.json is saved last), oldest first."""
    out = []
    for p in Path(output_dir).glob("checkpoint-*"):
        try:
            step = int(p.name.split("-")[-1])
        except ValueError:
            continue
        if (p / "trainer_state.json").exists() and ((p / "model.safetensors").exists()
                                                    or (p / "pytorch_model.bin").exists()):
            out.append((step, p))
    return [p for _, p in sorted(out)]


def _fingerprint_mismatch(expected: dict, found: dict) -> list[str]:
    return [f"{k}: run has {found.get(k)!r}, this config builds {v!r}" for k, v in expected.items()
            if k in found and found.get(k) != v]


def check_resumable(output_dir: Path, checkpoint: Path, fingerprint: dict) -> None:
    """Refuse to resume from a checkpoint made by a different model."""
    problems = []
    meta = output_dir / RUN_META
    if meta.exists():
        problems += _fingerprint_mismatch(fingerprint, json.loads(meta.read_text()).get("fingerprint", {}))
    cfg_path = checkpoint / "config.json"
    if cfg_path.exists():
        c = json.loads(cfg_path.read_text())
        found = {"model_type": c.get("model_type"), "vocab_size": c.get("vocab_size"), "d_model": c.get("d_model"),
                 "encoder_layers": c.get("encoder_layers", c.get("num_layers")),
                 "decoder_layers": c.get("decoder_layers", c.get("num_decoder_layers"))}
        problems += _fingerprint_mismatch({k: v for k, v in fingerprint.items() if k in found}, found)
    if problems:
        raise ConfigError(f"{checkpoint} was made by a different model and cannot be resumed "
                          f"({'; '.join(dict.fromkeys(problems))}); use another training.output_dir "
                          "or set training.resume: never with training.overwrite_output_dir: true")


# ---------------------------------------------------------------------------------------- metrics
def score(hyps: list[str], refs: list[str]) -> dict:
    """chrF (primary) and BLEU with their sacreBLEU signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    chrf, bleu = CHRF(), BLEU()
    c = chrf.corpus_score(hyps, [refs])
    b = bleu.corpus_score(hyps, [refs])
    return {"chrf": c.score, "bleu": b.score,
            "signatures": {"chrf": str(chrf.get_signature()), "bleu": str(bleu.get_signature())}}


def _make_trainer_class():
    import torch
    from transformers import Seq2SeqTrainer

    class BilingualTrainer(Seq2SeqTrainer):
        """Seq2SeqTrainer + token-budget batches, real-token throughput and generation metrics."""

        def __init__(self, *args, batch_sampler=None, dev_sets=None, gen_options=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._batch_sampler = batch_sampler
            self.dev_sets = dev_sets or {}
            self.gen_options = gen_options or {}
            self.signatures: dict = {}
            self._tokens = None
            self._tokens_total = 0
            self._last_log = (time.perf_counter(), 0)

        def get_train_dataloader(self):
            if self._batch_sampler is None:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            ds = self._remove_unused_columns(self.train_dataset, description="training")
            loader = DataLoader(ds, batch_sampler=self._batch_sampler, collate_fn=self.data_collator,
                                num_workers=self.args.dataloader_num_workers,
                                pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

        def training_step(self, model, inputs, num_items_in_batch=None):
            n = data_mod.count_tokens(inputs).detach()
            self._tokens = n if self._tokens is None else self._tokens + n
            return super().training_step(model, inputs, num_items_in_batch)

        def _flush_tokens(self) -> int:
            if self._tokens is not None:
                total = self.accelerator.reduce(self._tokens.to(self.args.device), reduction="sum")
                self._tokens_total += int(total.item())
                self._tokens = None
            return self._tokens_total

        def log(self, logs, start_time=None):
            if "loss" in logs:
                total = self._flush_tokens()
                now = time.perf_counter()
                t0, n0 = self._last_log
                if now > t0:
                    logs["tokens_per_second"] = round((total - n0) / (now - t0), 1)
                self._last_log = (now, total)
            return super().log(logs, start_time)

        def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                            metric_key_prefix="eval"):
            out = super().evaluation_loop(dataloader, description, prediction_loss_only=True,
                                          ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
            if metric_key_prefix == "eval" and self.dev_sets:
                out.metrics.update(self.generation_metrics(metric_key_prefix))
            return out

        def generation_metrics(self, prefix: str = "eval") -> dict:
            """Greedy (or eval_num_beams) decoding of the bounded dev subset, scored per direction;
            `chrf`/`bleu` are the means over directions. Every process scores the same subset."""
            model = self.accelerator.unwrap_model(self.model)
            metrics, chrfs, bleus = {}, [], []
            with self.autocast_smart_context_manager():
                for direction, (srcs, refs) in self.dev_sets.items():
                    src, tgt = data_mod.parse_direction(direction)
                    hyps = generate_texts(model, self.processing_class, srcs, src, tgt,
                                          num_beams=self.gen_options.get("num_beams", 1),
                                          batch_size=self.args.per_device_eval_batch_size,
                                          max_new_tokens=self.gen_options.get("max_new_tokens", 128))
                    s = score(hyps, refs)
                    key = direction.replace("-", "_")
                    metrics[f"{prefix}_chrf_{key}"] = s["chrf"]
                    metrics[f"{prefix}_bleu_{key}"] = s["bleu"]
                    self.signatures = s["signatures"]
                    chrfs.append(s["chrf"])
                    bleus.append(s["bleu"])
            metrics[f"{prefix}_chrf"] = sum(chrfs) / len(chrfs)
            metrics[f"{prefix}_bleu"] = sum(bleus) / len(bleus)
            return metrics

    return BilingualTrainer


# ------------------------------------------------------------------------------------------ train
def _state():
    """The process-wide Accelerate state. Created here with `cpu=` set, before anything else touches
    it: it is a singleton, and one made without `cpu=True` on a GPU-less machine ignores a torchrun /
    `accelerate launch --multi_gpu` world and runs each process alone (instead of gloo DDP)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _main_first(label: str):
    return _state().main_process_first()


def _prepare_output_dir(cfg: TrainConfig) -> tuple[Path, Optional[Path]]:
    """The run directory and the checkpoint to resume from (None: start fresh)."""
    t = cfg.training
    out = Path(t.output_dir)
    if t.resume not in ("auto", "never"):
        ckpt = Path(t.resume)
        if not (ckpt / "trainer_state.json").exists():
            raise ConfigError(f"{ckpt}: not a complete checkpoint (no trainer_state.json)")
        return out, ckpt
    ckpts = complete_checkpoints(out) if out.exists() else []
    if t.resume == "auto" and ckpts:
        return out, ckpts[-1]
    leftovers = [p for p in out.glob("checkpoint-*")] if out.exists() else []
    if (leftovers or (out / RUN_META).exists()) and not t.overwrite_output_dir:
        raise ConfigError(f"{out} holds a previous run but no complete checkpoint to resume from "
                          f"(resume: {t.resume}); set training.overwrite_output_dir: true to start over")
    if t.overwrite_output_dir and out.exists():
        import shutil

        if _state().is_main_process:
            for p in leftovers + [out / "tokenizer"]:   # the old run's own tokenizer may not fit this data
                shutil.rmtree(p, ignore_errors=True)
            (out / RUN_META).unlink(missing_ok=True)
        _state().wait_for_everyone()
    return out, None


def _tokenizer_for(cfg: TrainConfig, out: Path, splits):
    """A given tokenizer, the run's own (when resuming), or one trained now on the train split."""
    from transformers import AutoTokenizer

    from bilingual.modeling.tokenizer import dataset_parquet_files, train_tokenizer, train_tokenizer_from_parquet

    if cfg.model.tokenizer:
        return AutoTokenizer.from_pretrained(cfg.model.tokenizer)
    own = out / "tokenizer"
    with _main_first("tokenizer"):
        if not (own / "tokenizer.json").exists():
            if _state().is_main_process:
                try:
                    files = dataset_parquet_files(cfg.data.dataset_dir, "train")
                    train_tokenizer_from_parquet(files, own, vocab_size=cfg.model.vocab_size)
                except FileNotFoundError:
                    ds = splits["train"]

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


class _LengthGroupedIterable:
    """A torch IterableDataset view of a (shuffled, tokenized) streaming split, reordered so that
    consecutive batches have similar lengths; `set_epoch` reshuffles reproducibly."""

    def __init__(self, ds, batch_size: int, seed: int, group: bool):
        self.ds, self.batch_size, self.seed, self.group, self.epoch = ds, batch_size, seed, group, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch
        if hasattr(self.ds, "set_epoch"):
            self.ds.set_epoch(epoch)

    def __iter__(self):
        it = iter(self.ds)
        if self.group:
            it = data_mod.length_grouped_stream(it, self.batch_size, seed=self.seed + self.epoch)
        return it


def _as_torch_iterable(obj):
    import torch

    class _It(torch.utils.data.IterableDataset):
        def __init__(self, inner):
            self.inner = inner

        def set_epoch(self, epoch):
            self.inner.set_epoch(epoch)

        def __iter__(self):
            return iter(self.inner)

    return _It(obj)


def train(config: TrainConfig | dict | str | os.PathLike, callbacks: Optional[list] = None,
          wrap_collator=None) -> dict:
    """Run a training recipe; returns what the run report needs (see COMMON.md `training`).
    `callbacks`: extra TrainerCallbacks; `wrap_collator(collator) -> collator`: e.g. a FLOP counter."""
    import torch
    from transformers import EarlyStoppingCallback, Seq2SeqTrainingArguments, set_seed

    if isinstance(config, dict):
        config = config_from_dict(config)
    elif not isinstance(config, TrainConfig):
        config = load_config(config)
    else:
        validate(config)
    cfg = config
    m, d, t = cfg.model, cfg.data, cfg.training

    _state()
    splits = data_mod.load_splits(d.dataset_dir, ("train", d.eval_split), streaming=d.streaming)
    out, resume_from = _prepare_output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)

    _set_cpu_threads(t.cpu_threads)
    precision = resolve_precision(t.mixed_precision)
    os.environ["ACCELERATE_MIXED_PRECISION"] = precision
    set_seed(t.seed)

    if m.pretrained:
        hf = HFTransformerModel.from_pretrained(m.pretrained, tokenizer_path=m.tokenizer)
    else:
        tokenizer = _tokenizer_for(cfg, out, splits)
        hf = HFTransformerModel.from_preset(m.preset, tokenizer, seed=t.seed, dropout=m.dropout)
    if m.dropout is not None and hasattr(hf.model.config, "dropout"):
        hf.model.config.dropout = m.dropout
    fingerprint = hf.fingerprint()
    if resume_from is not None:
        check_resumable(out, resume_from, fingerprint)

    # Data -------------------------------------------------------------------------------------
    train_split = splits["train"]
    if d.max_train_samples:
        train_split = train_split.take(d.max_train_samples) if d.streaming else \
            train_split.select(range(min(d.max_train_samples, len(train_split))))
    eval_split = splits[d.eval_split]
    eval_small = eval_split.take(d.max_eval_samples) if d.streaming else \
        eval_split.select(range(min(d.max_eval_samples, len(eval_split))))
    dev_sets = _dev_sets(eval_small, d.directions, d.max_eval_samples)
    with _main_first("tokenize"):
        if d.streaming:
            stream = train_split.shuffle(seed=t.seed, buffer_size=d.shuffle_buffer)
            stream = data_mod.tokenize_split(stream, hf, d.directions, d.max_source_length, d.max_target_length)
            train_ds = _as_torch_iterable(_LengthGroupedIterable(stream, d.batch_size, t.seed,
                                                                 group=d.batching != "plain"))
            eval_ds = data_mod.tokenize_split(_materialize(eval_small), hf, d.directions, d.max_source_length,
                                              d.max_target_length)
        else:
            train_ds = data_mod.tokenize_split(train_split, hf, d.directions, d.max_source_length,
                                               d.max_target_length, num_proc=d.num_proc, desc="tokenize train")
            eval_ds = data_mod.tokenize_split(eval_small, hf, d.directions, d.max_source_length,
                                              d.max_target_length, desc="tokenize dev")
    if not d.streaming and len(train_ds) == 0:
        raise data_mod.DataError(f"{d.dataset_dir}: split 'train' has no usable bn/en pairs")

    batch_sampler = None
    if not d.streaming and d.batching == "token_budget":
        batch_sampler = data_mod.TokenBudgetBatchSampler(train_ds["length"], max_tokens=d.max_tokens,
                                                         max_sentences=d.batch_size, seed=t.seed)

    # Trainer ----------------------------------------------------------------------------------
    extra = dict(t.extra_args)
    accel_cfg = extra.pop("accelerator_config", {}) or {}
    if d.streaming:
        accel_cfg.setdefault("dispatch_batches", False)
    try:
        args = Seq2SeqTrainingArguments(
            output_dir=str(out), overwrite_output_dir=t.overwrite_output_dir, seed=t.seed, data_seed=t.seed,
            max_steps=t.max_steps, num_train_epochs=t.num_train_epochs, learning_rate=t.learning_rate,
            lr_scheduler_type=t.lr_scheduler_type, warmup_steps=t.warmup_steps, weight_decay=t.weight_decay,
            label_smoothing_factor=t.label_smoothing, max_grad_norm=t.max_grad_norm,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            per_device_train_batch_size=d.batch_size, per_device_eval_batch_size=t.eval_batch_size,
            group_by_length=(not d.streaming and d.batching == "length_grouped"), length_column_name="length",
            eval_strategy="steps", eval_steps=t.eval_steps, save_strategy="steps", save_steps=t.save_steps,
            logging_strategy="steps", logging_steps=t.logging_steps, logging_dir=str(out / "runs"),
            save_total_limit=t.save_total_limit, load_best_model_at_end=True, metric_for_best_model="chrf",
            greater_is_better=True, predict_with_generate=False, report_to=t.report_to,
            bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=t.dataloader_num_workers, remove_unused_columns=True,
            accelerator_config=accel_cfg or None, disable_tqdm=_quiet(), **extra)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{cfg.source or '<config>'}: training arguments rejected: {err}") from err

    cbs = list(callbacks or [])
    if t.early_stopping_patience:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    pad_multiple = 8 if torch.cuda.is_available() else None
    collator = data_mod.PadCollator(hf.tokenizer.pad_token_id, pad_to_multiple_of=pad_multiple,
                                    decoder_start_token_id=hf.model.config.decoder_start_token_id)
    if wrap_collator is not None:
        collator = wrap_collator(collator)
    Trainer = _make_trainer_class()
    trainer = Trainer(model=hf.model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                      processing_class=hf.tokenizer, data_collator=collator,
                      callbacks=cbs, batch_sampler=batch_sampler, dev_sets=dev_sets,
                      gen_options={"num_beams": t.eval_num_beams, "max_new_tokens": t.eval_max_new_tokens})

    hyper = {"preset": hf.preset, "learning_rate": t.learning_rate, "lr_scheduler_type": t.lr_scheduler_type,
             "warmup_steps": t.warmup_steps, "max_steps": t.max_steps, "num_train_epochs": t.num_train_epochs,
             "batching": d.batching, "max_tokens": d.max_tokens, "batch_size": d.batch_size,
             "directions": list(d.directions), "label_smoothing": t.label_smoothing, "seed": t.seed,
             "mixed_precision": precision, "world_size": args.world_size,
             "distributed_backend": _dist_backend(), "cpu_threads": torch.get_num_threads() if not torch.cuda.is_available() else None,
             "gradient_accumulation_steps": t.gradient_accumulation_steps,
             "mean_sentences_per_batch": (len(train_ds) / len(batch_sampler)) if batch_sampler else d.batch_size}
    if args.should_save:
        from bilingual.storage import write_json

        write_json(out / RUN_META, {"fingerprint": fingerprint, "config": cfg.to_dict(), "hyperparameters": hyper})

    train_out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    total_tokens = trainer._flush_tokens()
    runtime = train_out.metrics.get("train_runtime") or 0.0
    # The best model (by dev chrF) is loaded at the end; it becomes the run's model.
    trainer.save_model(str(out))
    if args.should_save:
        hf.tokenizer.save_pretrained(str(out))
        from bilingual.storage import write_json

        best = trainer.state.best_model_checkpoint
        result = {
            "output_dir": str(out), "best_checkpoint": best, "best_metric": trainer.state.best_metric,
            "best_step": trainer.state.best_global_step,
            "parameters": hf.num_parameters(), "preset": hf.preset, "model_type": hf.model_type,
            "hyperparameters": hyper, "log_history": trainer.state.log_history,
            "tokens_per_second": (total_tokens / runtime) if runtime else None,
            "tokens": total_tokens, "global_step": trainer.state.global_step,
            "resumed_from": str(resume_from) if resume_from else None, "signatures": trainer.signatures,
            "train_runtime": runtime,
        }
        write_json(out / "bilingual_model.json", {**hf.describe(), "source": hf.source})
        write_json(out / "train_results.json", result)
    else:
        result = {}
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


def _materialize(ds):
    from datasets import Dataset

    return Dataset.from_list(list(ds))


def _quiet() -> bool:
    from bilingual.console import quiet

    return quiet()
