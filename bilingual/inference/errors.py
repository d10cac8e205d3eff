"""Errors about model artifacts, shared by the translator, the backends and the commands (one line each,
naming the file and what to do)."""

from __future__ import annotations


class MissingArtifactError(FileNotFoundError):
    """A model folder lacks something a backend needs (weights, tokenizer, ONNX files, CTranslate2 model)."""


class CorruptArtifactError(MissingArtifactError):
    """A file is there but cannot be read (truncated, corrupt): as unusable as a missing one."""


class ExportError(RuntimeError):
    """An export that cannot be made or that failed its check; the message says what and where."""


class UnsupportedModelError(ExportError):
    pass


class ParityError(ExportError):
    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result
