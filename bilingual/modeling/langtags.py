"""Compatibility view of `bilingual.modeling.families` for callers that only hold a tokenizer.

New code should call `families.family_for(config, tokenizer)` and the `Family` methods directly.
"""

from __future__ import annotations

from bilingual.modeling.families import (FAMILIES, LANG_NAMES, LANGS, TARGET_TAGS, check_lang,  # noqa: F401
                                         family_for_tokenizer, other)

MBART_CODES = dict(FAMILIES["mbart50"].lang_codes)


_LEGACY_STYLE = {"tag": "tag", "forced_bos": "mbart", "prefix": "t5"}


def style_of(tokenizer) -> str:
    """The legacy style names the card template reads: 'tag' (ours / OPUS-MT), 'mbart' (any forced-BOS
    family: mBART-50, NLLB, M2M100) or 't5'. New code: `family_for_tokenizer(tok).style`."""
    return _LEGACY_STYLE[family_for_tokenizer(tokenizer).style]


def prepare_sources(texts, src_lang: str, tgt_lang: str, tokenizer) -> list[str]:
    return family_for_tokenizer(tokenizer).prepare_sources(texts, src_lang, tgt_lang, tokenizer)


def generation_kwargs(tgt_lang: str, tokenizer) -> dict:
    return family_for_tokenizer(tokenizer).generate_kwargs(tokenizer, tgt_lang)
