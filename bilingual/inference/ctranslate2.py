"""Moved to `bilingual.inference.backends.ctranslate2`; these names stay importable from here."""

from bilingual.inference.backends.ctranslate2 import SUPPORTED, _converter, export  # noqa: F401

convert_ctranslate2 = export
