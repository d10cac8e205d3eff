"""How a model is told which language to produce, in one place.

- Our own Marian-style models (shared bn+en vocabulary, both directions in one model): the source
  text starts with a target-language tag token, `>>bn<<` or `>>en<<` (the OPUS-MT convention).
- mBART-50 checkpoints: `tokenizer.src_lang` is set and generation is forced to begin with the
  target language code (`bn_IN`, `en_XX`).
- mT5 / T5 checkpoints: a task prefix in the source text.
"""

from __future__ import annotations

LANGS = ("bn", "en")
TARGET_TAGS = {"bn": ">>bn<<", "en": ">>en<<"}
MBART_CODES = {"bn": "bn_IN", "en": "en_XX"}
LANG_NAMES = {"bn": "Bengali", "en": "English"}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    return lang


def other(lang: str) -> str:
    return "en" if check_lang(lang) == "bn" else "bn"


def style_of(tokenizer) -> str:
    """'tag' (ours), 'mbart' or 't5', from what the tokenizer knows."""
    if TARGET_TAGS["bn"] in tokenizer.get_vocab():
        return "tag"
    if getattr(tokenizer, "lang_code_to_id", None) and MBART_CODES["bn"] in tokenizer.lang_code_to_id:
        return "mbart"
    if "t5" in type(tokenizer).__name__.lower():
        return "t5"
    raise ValueError(f"{type(tokenizer).__name__} has no bn/en language tags: train the tokenizer with "
                     "bilingual.modeling.tokenizer or use an mBART-50 / mT5 checkpoint")


def prepare_sources(texts, src_lang: str, tgt_lang: str, tokenizer) -> list[str]:
    """Source texts as the model expects them for translation into `tgt_lang`."""
    check_lang(src_lang), check_lang(tgt_lang)
    style = style_of(tokenizer)
    if style == "tag":
        return [f"{TARGET_TAGS[tgt_lang]} {t}" for t in texts]
    if style == "mbart":
        tokenizer.src_lang = MBART_CODES[src_lang]
        return list(texts)
    return [f"translate {LANG_NAMES[src_lang]} to {LANG_NAMES[tgt_lang]}: {t}" for t in texts]


def generation_kwargs(tgt_lang: str, tokenizer) -> dict:
    """Extra `generate` arguments that select the output language."""
    if style_of(tokenizer) == "mbart":
        return {"forced_bos_token_id": tokenizer.lang_code_to_id[MBART_CODES[check_lang(tgt_lang)]]}
    return {}
