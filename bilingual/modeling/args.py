"""Training arguments the Hugging Face way (as in `run_translation.py` and the alignment-handbook):
`ModelArguments`, `DataTrainingArguments` and `BilingualTrainingArguments` (a `Seq2SeqTrainingArguments`,
so deepspeed, fsdp, optim, gradient_checkpointing ... are ordinary keys), read from a flat YAML recipe and
overridden by command-line flags parsed by `HfArgumentParser`:

    accelerate launch scripts/train.py --config recipes/train/tiny.yaml --dataset_name DIR --max_steps 100

Every recipe key is checked before anything heavy runs: an unknown key or a value of the wrong type is
refused with the key named (and the closest known key suggested). Old nested recipes (`model:`, `data:`,
`training:` sections) and `section.key=value` overrides are still read, mapped to the flat names.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from transformers import Seq2SeqTrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy, SchedulerType

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
BATCHING = ("token_budget", "length_grouped", "plain")


class ConfigError(ValueError):
    """A training recipe that cannot work; raised before training starts."""


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(default=None, metadata={
        "help": "checkpoint to fine-tune: a local folder or a Hub id (Marian/OPUS-MT, mBART-50, mT5, NLLB-200, "
                "M2M100); unset: a new model of size `preset`"})
    preset: str = field(default="tiny", metadata={"help": "size of a new model: tiny | small | base"})
    tokenizer_name: Optional[str] = field(default=None, metadata={
        "help": "tokenizer folder or Hub id; unset: the checkpoint's own, or for a new model one trained on the "
                "train split into OUTPUT_DIR/tokenizer"})
    vocab_size: int = field(default=8000, metadata={"help": "vocabulary size of a tokenizer trained here"})
    dropout: Optional[float] = field(default=None, metadata={"help": "override the model's dropout"})


@dataclass
class DataTrainingArguments:
    dataset_name: Optional[str] = field(default=None, metadata={
        "help": "our processed dataset folder (DIR/dataset/ or DIR), any folder `load_dataset` reads, or a Hub "
                "dataset id; columns bn/en or translation: {bn, en}"})
    dataset_config_name: Optional[str] = field(default=None, metadata={"help": "Hub dataset configuration"})
    directions: list[str] = field(default_factory=lambda: ["bn-en", "en-bn"], metadata={
        "help": "translation directions trained in one model: bn-en and/or en-bn"})
    max_source_length: int = 128
    max_target_length: int = 128
    streaming: bool = field(default=False, metadata={
        "help": "stream the train split (needs max_steps); each process reads its own part"})
    shuffle_buffer: int = 10_000
    batching: str = field(default="token_budget", metadata={"help": "token_budget | length_grouped | plain"})
    max_tokens: int = field(default=4096, metadata={"help": "padded tokens per device batch (token_budget)"})
    max_train_samples: Optional[int] = None
    max_eval_samples: int = field(default=200, metadata={"help": "bounded dev subset scored during training"})
    eval_split: str = "validation"
    preprocessing_num_workers: Optional[int] = None


@dataclass
class BilingualTrainingArguments(Seq2SeqTrainingArguments):
    """Seq2SeqTrainingArguments with this project's defaults (evaluate and save every `eval_steps`, keep the
    best checkpoint by dev chrF, inverse-sqrt schedule, label smoothing, TensorBoard) and four additions."""

    output_dir: Optional[str] = field(default="runs/train", metadata={"help": "run folder"})
    eval_strategy: typing.Union[IntervalStrategy, str] = "steps"
    save_strategy: typing.Union[SaveStrategy, str] = "steps"
    logging_strategy: typing.Union[IntervalStrategy, str] = "steps"
    eval_steps: Optional[float] = 200
    save_steps: float = 200
    logging_steps: float = 50
    save_total_limit: Optional[int] = 3
    load_best_model_at_end: bool = True
    metric_for_best_model: Optional[str] = "chrf"
    greater_is_better: Optional[bool] = True
    learning_rate: float = 5e-4
    lr_scheduler_type: typing.Union[SchedulerType, str] = "inverse_sqrt"
    warmup_steps: int = 100
    label_smoothing_factor: float = 0.1
    per_device_train_batch_size: int = field(default=32, metadata={
        "help": "sentences per device batch (the cap of a token_budget batch)"})
    per_device_eval_batch_size: int = 64
    num_train_epochs: float = 3.0
    report_to: Optional[list[str]] = field(default_factory=lambda: ["tensorboard"])
    generation_max_length: Optional[int] = field(default=128, metadata={
        "help": "max new tokens when decoding the dev subset"})
    generation_num_beams: Optional[int] = field(default=1, metadata={"help": "beams when decoding the dev subset"})
    # additions
    early_stopping_patience: Optional[int] = field(default=5, metadata={
        "help": "evaluations without a chrF gain before stopping; null: off"})
    mixed_precision: str = field(default="auto", metadata={
        "help": "auto (bf16/fp16 on GPU, fp32 on CPU; an explicit bf16/fp16 flag or Accelerate config wins) | no | "
                "fp16 | bf16"})
    resume: str = field(default="auto", metadata={
        "help": "auto (last intact checkpoint) | never | CHECKPOINT_DIR"})
    cpu_threads: Optional[int] = field(default=None, metadata={
        "help": "torch threads per process on CPU; unset: free cores / processes"})

    def __post_init__(self):
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)} "
                              f"(got {self.mixed_precision!r})")
        import torch

        cuda = torch.cuda.is_available()
        if not (self.bf16 or self.fp16):
            precision = resolve_precision(self.mixed_precision)
            if precision == "fp16" and not cuda:
                raise ConfigError("mixed_precision fp16 needs a CUDA device (use auto, no or bf16)")
            self.bf16, self.fp16 = precision == "bf16", precision == "fp16"
        self.use_cpu = self.use_cpu or not cuda
        if self.data_seed is None:
            self.data_seed = self.seed
        if self.disable_tqdm is None:
            from bilingual.console import quiet

            self.disable_tqdm = quiet()
        super().__post_init__()

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "no"


ARGUMENT_CLASSES = (ModelArguments, DataTrainingArguments, BilingualTrainingArguments)

# Old nested recipe keys and `section.key` overrides → flat names (identity where only the section goes).
LEGACY_KEYS = {
    "model.preset": "preset", "model.pretrained": "model_name_or_path", "model.tokenizer": "tokenizer_name",
    "data.dataset_dir": "dataset_name", "data.batch_size": "per_device_train_batch_size",
    "data.num_proc": "preprocessing_num_workers", "training.label_smoothing": "label_smoothing_factor",
    "training.eval_batch_size": "per_device_eval_batch_size", "training.eval_num_beams": "generation_num_beams",
    "training.eval_max_new_tokens": "generation_max_length",
}
SECTIONS = ("model", "data", "training")


@dataclass
class TrainConfig:
    model: ModelArguments
    data: DataTrainingArguments
    training: BilingualTrainingArguments
    source: Optional[str] = None            # where the recipe came from (for messages)

    def to_dict(self) -> dict:
        return {"model": dataclasses.asdict(self.model), "data": dataclasses.asdict(self.data),
                "training": self.training.to_dict()}


def resolve_precision(requested: str) -> str:
    """auto → an Accelerate launch config's bf16/fp16, else bf16 on GPUs that have it, fp16 on other GPUs,
    fp32 ('no') on CPU."""
    import torch

    if requested != "auto":
        return requested
    env = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if env in ("fp16", "bf16"):
        return env
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


# ------------------------------------------------------------------------------------------- checking
def _fields() -> dict[str, tuple[type, Any]]:
    """flat key → (owning dataclass, type annotation)."""
    out = {}
    for cls in ARGUMENT_CLASSES:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init:
                out[f.name] = (cls, hints[f.name])
    return out


def _check(value, annotation, where: str):
    """`value` converted to `annotation`, or ConfigError naming `where`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where} may not be null")
        arms = [a for a in args if a is not type(None)]
        if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in arms):
            arms = [a for a in arms if a is not str]    # an enum-or-str field takes only the enum's values
        errors = []
        for arm in arms:
            try:
                return _check(value, arm, where)
            except ConfigError as err:
                errors.append(str(err).split(" must be ", 1)[-1])
        raise ConfigError(f"{where} must be {' or '.join(dict.fromkeys(errors))}")
    if value is None:
        raise ConfigError(f"{where} may not be null")
    if annotation is Any:
        return value
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        allowed = [e.value for e in annotation]
        if value not in allowed and not isinstance(value, annotation):
            raise ConfigError(f"{where} must be one of {', '.join(map(str, allowed))} (got {value!r})")
        return value
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
        if args:
            return [_check(v, args[0], where) for v in value]
        return list(value)
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping (got {value!r})")
        return dict(value)
    return value


def flatten(raw: dict, source: str) -> dict:
    """A recipe mapping with old `model:`/`data:`/`training:` sections (and `extra_args`) made flat."""
    flat: dict = {}
    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, dict):
            for sub, v in value.items():
                if key == "training" and sub == "extra_args":
                    if not isinstance(v, dict):
                        raise ConfigError(f"{source}: training.extra_args must be a mapping")
                    flat.update(v)
                else:
                    flat[LEGACY_KEYS.get(f"{key}.{sub}", sub)] = v
        else:
            flat[key] = value
    return flat


def check_values(raw, source: str) -> dict:
    """Flat, type-checked recipe values; unknown keys and wrong types raise ConfigError naming the key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of training arguments (key: value), "
                          f"got a {type(raw).__name__}")
    flat = flatten(raw, source)
    known = _fields()
    unknown = [k for k in flat if k not in known]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), known, n=1)
            hints.append(f"{k} (did you mean {close[0]}?)" if close else str(k))
        raise ConfigError(f"{source}: unknown key(s) {', '.join(hints)}; see `bilingual train --help`")
    return {k: _check(v, known[k][1], f"{source}: {k}") for k, v in flat.items()}


def build(values: dict, source: str) -> TrainConfig:
    """Checked flat values → the three argument dataclasses, then the cross-field checks of `validate`."""
    known = _fields()
    parts: dict[type, dict] = {cls: {} for cls in ARGUMENT_CLASSES}
    for k, v in values.items():
        parts[known[k][0]][k] = v
    try:
        objs = [cls(**parts[cls]) for cls in ARGUMENT_CLASSES]
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {' '.join(str(err).split())}") from err
    cfg = TrainConfig(*objs, source=source)
    validate(cfg)
    return cfg


def config_from_dict(raw: dict, source: str = "<config>") -> TrainConfig:
    """A recipe mapping (flat, or old nested sections) → a checked TrainConfig."""
    return build(check_values(raw, source), source)


def read_recipe(path) -> dict:
    """The recipe file's mapping (flat, or old nested sections); errors name the file."""
    from bilingual.storage import read_mapping

    return read_mapping(path, "training arguments", ConfigError)


def load_config(path, overrides: Optional[list[str]] = None) -> TrainConfig:
    """A YAML recipe plus `key=value` overrides (value parsed as YAML; `section.key` names are accepted)."""
    import yaml

    raw = flatten(read_recipe(path), str(path))
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected key=value")
        section, dot, name = key.partition(".")
        if dot:
            key = LEGACY_KEYS.get(key, name) if section in SECTIONS else key
        raw[key] = yaml.safe_load(value)
    return config_from_dict(raw, str(path))


def parse_args(argv: Optional[list[str]] = None, prog: str = "train"):
    """`--config RECIPE` (optional) then flags for any argument; flags override the recipe.

    Returns (TrainConfig, namespace of the extra options `config` and `quiet`)."""
    import argparse

    from transformers import HfArgumentParser

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    source = known.config or "<command line>"
    values = check_values(read_recipe(known.config), source) if known.config else {}

    parser = HfArgumentParser(ARGUMENT_CLASSES, prog=prog,
                              description="Train or fine-tune a bn<->en model with Seq2SeqTrainer. Every "
                                          "Seq2SeqTrainingArguments field is a flag and a recipe key.")
    parser.add_argument("--config", help="training recipe (recipes/train/NAME.yaml); flags override its keys")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(**values)
    ns, remaining = parser.parse_known_args(argv)
    if remaining:
        parser.error(f"unrecognized arguments: {' '.join(remaining)}")
    # recipe values (checked above) plus what the flags changed (converted by argparse, checked here too);
    # fields set by neither keep their dataclass defaults
    flags = {k: v for k, v in vars(ns).items()
             if k not in ("config", "quiet") and k not in values and v != parser.get_default(k)}
    for k, v in vars(ns).items():
        if k in values and v is not values[k]:
            flags[k] = v
    cfg = build({**values, **check_values(flags, "command line")}, source)
    return cfg, argparse.Namespace(config=ns.config, quiet=ns.quiet)


def validate(cfg: TrainConfig) -> None:
    """Cross-field checks Seq2SeqTrainingArguments does not make; ConfigError naming the key."""
    from bilingual.modeling.data import parse_direction
    from bilingual.modeling.model import PRESETS

    src = cfg.source or "<config>"
    m, d, t = cfg.model, cfg.data, cfg.training

    def fail(msg):
        raise ConfigError(f"{src}: {msg}")

    if m.model_name_or_path is None and m.preset not in PRESETS:
        fail(f"preset must be one of {', '.join(PRESETS)} (got {m.preset!r}) or set model_name_or_path")
    if m.vocab_size < 64:
        fail(f"vocab_size must be >= 64 (got {m.vocab_size})")
    if m.dropout is not None and not 0 <= m.dropout < 1:
        fail(f"dropout must be in [0, 1) (got {m.dropout})")
    if not d.dataset_name:
        fail("dataset_name is required (a dataset folder or Hub id; --dataset_name DIR)")
    if not d.directions:
        fail("directions must name at least one of bn-en, en-bn")
    for direction in d.directions:
        try:
            parse_direction(direction)
        except ValueError as err:
            fail(f"directions: {err}")
    if len(set(d.directions)) != len(d.directions):
        fail("directions has duplicates")
    if d.batching not in BATCHING:
        fail(f"batching must be one of {', '.join(BATCHING)} (got {d.batching!r})")
    for key in ("max_source_length", "max_target_length", "max_tokens", "max_eval_samples", "shuffle_buffer"):
        if getattr(d, key) < 1:
            fail(f"{key} must be positive (got {getattr(d, key)})")
    if d.batching == "token_budget" and d.max_tokens < max(d.max_source_length, d.max_target_length):
        fail(f"max_tokens ({d.max_tokens}) is smaller than one maximal-length example "
             f"({max(d.max_source_length, d.max_target_length)} tokens)")
    if d.max_train_samples is not None and d.max_train_samples < 1:
        fail(f"max_train_samples must be positive (got {d.max_train_samples})")
    if d.streaming and t.max_steps <= 0:
        fail("streaming needs max_steps > 0 (a stream has no length)")
    if t.max_steps <= 0 and t.num_train_epochs <= 0:
        fail("set max_steps > 0 or num_train_epochs > 0")
    if not 0 < t.learning_rate <= 1:
        fail(f"learning_rate must be in (0, 1] (got {t.learning_rate})")
    for key in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                "generation_num_beams", "generation_max_length"):
        if getattr(t, key) is not None and getattr(t, key) < 1:
            fail(f"{key} must be positive (got {getattr(t, key)})")
    if t.save_total_limit is not None and t.save_total_limit < 1:
        fail(f"save_total_limit must be positive or null (got {t.save_total_limit})")
    if t.warmup_steps < 0:
        fail(f"warmup_steps must be >= 0 (got {t.warmup_steps})")
    if not 0 <= t.label_smoothing_factor < 1:
        fail(f"label_smoothing_factor must be in [0, 1) (got {t.label_smoothing_factor})")
    if t.early_stopping_patience is not None and t.early_stopping_patience < 1:
        fail(f"early_stopping_patience must be >= 1 or null (got {t.early_stopping_patience})")
    if t.cpu_threads is not None and t.cpu_threads < 1:
        fail(f"cpu_threads must be >= 1 or null (got {t.cpu_threads})")
    if t.metric_for_best_model not in (None, "chrf", "eval_chrf", "loss", "eval_loss", "bleu", "eval_bleu"):
        fail(f"metric_for_best_model must be chrf, bleu or loss (got {t.metric_for_best_model!r})")
    if t.resume not in ("auto", "never") and not Path(t.resume).is_dir():
        fail(f"resume must be auto, never or a checkpoint directory (got {t.resume!r})")
