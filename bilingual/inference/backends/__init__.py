"""Inference backends in one registry, keyed by name.

Each entry says where its artifact lives beside the PyTorch weights (`model_dir/<folder>/`), which file marks
it as present, which command writes it, how fast it serves (rank from BENCHMARKS.md "Inference and export":
CTranslate2 int8 > ONNX int8 > ONNX fp32 > PyTorch), and the module that implements it:

    load(path, model_dir, tokenizer, threads) -> engine with .generate(sources, tgt_lang, num_beams, batch_size,
                                                                    max_new_tokens, min_new_tokens) -> list[str]
    export(model_dir, output_dir, reference, **options) -> parity result  (absent for pytorch)

An export writes its parity gate's result next to the artifact (`<folder>/parity.json`); `present()` reads it
back, and `serve` picks the fastest artifact whose gate passed. Adding a backend is one `register(...)` entry
and one module. This module imports no backend implementation (no heavy imports, no import cycles).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bilingual.inference.errors import MissingArtifactError
from bilingual.layout import CTRANSLATE2_DIR, CTRANSLATE2_MARKER, ONNX_DIR, ONNX_INT8_DIR, ONNX_MARKER

PARITY_FILE = "parity.json"


@dataclass(frozen=True)
class Backend:
    name: str
    folder: Optional[str]  # artifact folder beside the PyTorch weights; None: the model folder itself
    marker: str            # the file whose presence says the artifact is there
    module: str            # implementation: load(...) and, for exports, export(...)
    speed_rank: int        # serving preference, 0 = fastest
    made_by: str           # the command that writes the artifact
    description: str
    files: tuple[str, ...] = ()  # name endings of the artifact's files: what `bilingual publish` uploads

    def impl(self):
        return importlib.import_module(self.module)

    def artifact_dir(self, model_dir, subfolder: Optional[str] = None) -> Path:
        """Where this backend's files are: `model_dir/<subfolder or folder>`, or `model_dir` itself when it is
        that artifact; MissingArtifactError with the command that makes it when neither has the marker."""
        model_dir = Path(model_dir)
        if self.folder is None:
            return model_dir
        if subfolder is None and (model_dir / self.marker).exists():
            return model_dir
        path = model_dir / (subfolder or self.folder)
        if not (path / self.marker).exists():
            raise MissingArtifactError(f"{path} has no {self.marker}: run `{self.made_by} {model_dir}` first")
        return path

    def load(self, path: Path, model_dir: Path, tokenizer, threads: Optional[int] = None):
        return self.impl().load(path, model_dir, tokenizer, threads)

    def parity(self, path) -> Optional[dict]:
        """The recorded parity gate result next to the artifact, or None (never checked, or unreadable)."""
        try:
            return json.loads((Path(path) / PARITY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    if backend.name in REGISTRY:
        raise ValueError(f"backend {backend.name!r} is already registered")
    REGISTRY[backend.name] = backend
    return backend


_SIDE_FILES = (".json", ".txt", ".model", ".spm", ".jinja")  # config, generation config, tokenizer, parity.json
ONNX_FILE_ENDINGS = (".onnx", ".onnx_data") + _SIDE_FILES
CTRANSLATE2_FILE_ENDINGS = (".bin",) + _SIDE_FILES

register(Backend("pytorch", None, "config.json", "bilingual.inference.backends.pytorch", 3,
                 "bilingual train", "transformers generate on the saved weights (the reference)"))
register(Backend("onnx", ONNX_DIR, ONNX_MARKER, "bilingual.inference.backends.onnx", 2,
                 "bilingual export", "ONNX Runtime fp32 (Optimum export, with past key values)", ONNX_FILE_ENDINGS))
register(Backend("onnx-int8", ONNX_INT8_DIR, ONNX_MARKER, "bilingual.inference.backends.onnx", 1,
                 "bilingual export --quantize", "ONNX Runtime, weight MatMuls dynamically quantized to int8",
                 ONNX_FILE_ENDINGS))
register(Backend("ctranslate2", CTRANSLATE2_DIR, CTRANSLATE2_MARKER, "bilingual.inference.backends.ctranslate2", 0,
                 "bilingual export --ctranslate2", "CTranslate2 (int8 by default)", CTRANSLATE2_FILE_ENDINGS))


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(REGISTRY)}") from None


def present(model_dir) -> list[dict]:
    """The backends `model_dir` can serve, fastest first: [{"backend", "dir", "parity_passed"}], where
    parity_passed is True/False from the recorded gate, or None when no gate was recorded (always None for
    pytorch, the reference). Publishing uses this to know which artifacts to upload."""
    model_dir = Path(model_dir)
    found = []
    for backend in sorted(REGISTRY.values(), key=lambda b: b.speed_rank):
        path = model_dir if backend.folder is None else model_dir / backend.folder
        if not (path / backend.marker).is_file():
            continue
        parity = None if backend.folder is None else backend.parity(path)
        found.append({"backend": backend.name, "dir": str(path),
                      "parity_passed": None if parity is None else bool(parity.get("passed"))})
    return found


def default_for_serving(model_dir) -> tuple[str, str]:
    """(backend, why): the fastest backend present whose parity gate passed, else pytorch."""
    skipped = []
    for entry in present(model_dir):
        if entry["backend"] == "pytorch":
            break
        if entry["parity_passed"]:
            return entry["backend"], f"fastest artifact present whose parity gate passed ({entry['dir']})"
        skipped.append(f"{entry['backend']} (parity {'failed' if entry['parity_passed'] is False else 'not recorded'})")
    why = "no exported artifact with a passed parity gate" + (f"; skipped {', '.join(skipped)}" if skipped else "")
    return "pytorch", why + " (run `bilingual export --quantize --ctranslate2 MODEL` for faster backends)"
