"""One translation entry point for every backend in `bilingual.inference.backends` (PyTorch, ONNX Runtime
fp32/int8, CTranslate2), used by evaluation, export parity checks, the `translate` command and the HTTP
service, so they all give the same output for the same model.

Artifacts live beside the PyTorch weights (`model_dir/onnx/`, `model_dir/onnx-int8/`, `model_dir/ctranslate2/`);
each is self-contained (config and tokenizer copied in), so `model_dir` may also be the artifact folder itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from bilingual.inference import backends, languages
from bilingual.inference.errors import CorruptArtifactError, MissingArtifactError  # noqa: F401  (re-exported)

BACKENDS = backends.names()
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "source.spm", "spiece.model",
                   "sentencepiece.bpe.model", "vocab.json", "vocab.txt")


def has_tokenizer(path) -> bool:
    return any((Path(path) / name).exists() for name in TOKENIZER_FILES)


def load_tokenizer(*candidates):
    """AutoTokenizer from the first folder that has tokenizer files; a clear error when none has."""
    from transformers import AutoTokenizer

    for path in candidates:
        if path is not None and has_tokenizer(path):
            try:
                return AutoTokenizer.from_pretrained(path)
            except (OSError, ValueError) as exc:  # a torn tokenizer.json: JSON / Rust deserialization errors
                raise CorruptArtifactError(f"{path}: tokenizer files cannot be read ({' '.join(str(exc).split())[:160]}); "
                                           "save the tokenizer again with tokenizer.save_pretrained") from exc
    where = ", ".join(str(p) for p in candidates if p is not None)
    raise MissingArtifactError(f"{where}: no tokenizer found (expected tokenizer.json or tokenizer_config.json); "
                               "save the tokenizer next to the model with tokenizer.save_pretrained(model_dir)")


def artifact_dir(model_dir, backend: str, subfolder: Optional[str] = None) -> Path:
    """Where a backend's files are (see `backends.Backend.artifact_dir`)."""
    return backends.get(backend).artifact_dir(model_dir, subfolder)


class Translator:
    """Batched, length-sorted translation with greedy or beam search on any registered backend.

    `threads` pins the intra-op thread count of the backend (the benchmark gives every backend the same)."""

    def __init__(self, model_dir, backend: str = "pytorch", onnx_subfolder: Optional[str] = None,
                 threads: Optional[int] = None):
        spec = backends.get(backend)
        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise MissingArtifactError(f"{self.model_dir}: no such model folder")
        self.backend = backend
        self.path = spec.artifact_dir(self.model_dir, onnx_subfolder)
        self.tokenizer = load_tokenizer(self.path, self.model_dir)
        self.engine = spec.load(self.path, self.model_dir, self.tokenizer, threads)
        self.model = self.engine.model  # its `.config` (when it has one) tells the service the input limit

    def translate(self, texts: Sequence[str], src_lang: str, tgt_lang: str, num_beams: int = 1,
                  batch_size: int = 32, max_new_tokens: int = 128, min_new_tokens: int = 0) -> list[str]:
        """Translate in batches of similar length (less padding); output order matches input.

        `min_new_tokens == max_new_tokens` forces a fixed output length (benchmarks)."""
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            sources = languages.prepare_sources([texts[i] for i in idx], src_lang, tgt_lang, self.tokenizer)
            hyps = self.engine.generate(sources, tgt_lang, num_beams, batch_size, max_new_tokens, min_new_tokens)
            for i, text in zip(idx, hyps):
                out[i] = text.strip()
        return out
