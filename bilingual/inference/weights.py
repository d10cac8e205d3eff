"""Weight and model files checked before (safetensors) or when (ONNX, CTranslate2) a backend loads them, so a
missing, truncated or corrupt file is one line naming the file and what to do, in every command, instead of a
traceback from deep inside safetensors, ONNX Runtime or CTranslate2."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable

from bilingual.inference.errors import CorruptArtifactError, MissingArtifactError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


def check_weights(model_dir) -> list[Path]:
    """The PyTorch weight files of `model_dir`, each safetensors file's header checked against its size
    (safetensors refuses a file whose data does not cover what the header promises: a truncated copy)."""
    model_dir = Path(model_dir)
    files = [p for pattern in WEIGHT_PATTERNS for p in sorted(model_dir.glob(pattern))]
    if not files:
        raise MissingArtifactError(f"{model_dir}: no model weights (model.safetensors or pytorch_model.bin); "
                                   "point --model at a folder written by `bilingual train` or save_pretrained")
    for path in files:
        if path.suffix == ".safetensors":
            check_safetensors(path)
    return files


def check_safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            handle.keys()
    except (SafetensorError, OSError) as exc:
        raise CorruptArtifactError(f"{path}: unreadable weights ({_reason(exc)}); the file is truncated or "
                                   "corrupt: copy it again or re-save the model") from exc


def corrupt_file(files: Iterable[Path], exc: BaseException, how_to_fix: str) -> CorruptArtifactError | None:
    """After a backend failed to load: the error naming the first of `files` that is empty or that the
    backend's own message names, or None when no file is to blame (the original error then stands)."""
    files = [Path(f) for f in files]
    message = str(exc)
    blamed = next((f for f in files if f.exists() and f.stat().st_size == 0), None)
    blamed = blamed or next((f for f in files if f.name in message), None)
    if blamed is None and _looks_like_bad_file(message):
        blamed = files[0] if len(files) == 1 else None
    if blamed is None:
        return None
    return CorruptArtifactError(f"{blamed}: cannot be loaded ({_reason(exc)}); the file is truncated or corrupt: "
                                f"{how_to_fix}")


def _looks_like_bad_file(message: str) -> bool:
    words = ("protobuf", "parse", "corrupt", "truncat", "deserializ", "unexpected end", "invalid", "magic", "eof")
    lowered = message.lower()
    return any(w in lowered for w in words)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    with contextlib.suppress(Exception):
        text = text.split("] ")[-1] if text.startswith("[ONNXRuntimeError]") else text
    return (text[:160] + "…") if len(text) > 160 else (text or type(exc).__name__)
