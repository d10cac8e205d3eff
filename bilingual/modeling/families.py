"""Model families, in one registry: everything that differs between Marian/OPUS-MT, mBART-50, mT5/T5 and
NLLB-200/M2M100 checkpoints lives in one `Family` entry, so adding a family is one new entry in `FAMILIES`.

Each entry knows which `model_type`s it covers, its bn/en language codes, how the target language is chosen
(`style`), the tokenizer class of its checkpoints, the CTranslate2 loader that converts it, and what the model
card says about it. Every other module asks this one:

    fam = family_for(config_or_model_type, tokenizer=None)
    sources = fam.prepare_sources(texts, "en", "bn", tokenizer)       # tag / prefix / tokenizer.src_lang
    ids = model.generate(**tokenizer(sources, ...), **fam.generate_kwargs(tokenizer, "bn"))
    fam.ct2_converter, fam.ct2_target_prefix(tokenizer, "bn"), fam.card_tags, fam.architecture(config)

Styles, and why they differ:
- "tag": our own models and multilingual OPUS-MT checkpoints put a target-language token (`>>bn<<`) at the
  start of the source; a single-direction OPUS-MT checkpoint (e.g. opus-mt-bn-en) has no tags and needs none.
- "forced_bos": mBART-50, NLLB-200 and M2M100 mark the source language with a code token (`tokenizer.src_lang`)
  and generation is forced to start with the target code (`forced_bos_token_id`); labels start with it too.
- "prefix": T5/mT5 read the task from a text prefix ("translate English to Bengali: ...").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

LANGS = ("bn", "en")
LANG_NAMES = {"bn": "Bengali", "en": "English"}
TARGET_TAGS = {"bn": ">>bn<<", "en": ">>en<<"}
# multilingual OPUS-MT checkpoints (e.g. opus-mt-en-mul) tag with ISO 639-3 codes
TAG_ALIASES = {"bn": (">>bn<<", ">>ben<<"), "en": (">>en<<", ">>eng<<")}
STYLES = ("tag", "forced_bos", "prefix")

# What describes an architecture, as (canonical name, how a model card labels it, config attributes tried in
# order: Marian/BART names, then T5 names). Resume checks and cards both read it; no family needs its own.
ARCH_FIELDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("model_type", "model type", ("model_type",)),
    ("architectures", "architecture", ("architectures",)),
    ("d_model", "hidden size (d_model)", ("d_model", "hidden_size")),
    ("encoder_layers", "encoder layers", ("encoder_layers", "num_layers")),
    ("decoder_layers", "decoder layers", ("decoder_layers", "num_decoder_layers", "num_layers")),
    ("encoder_heads", "attention heads (encoder)", ("encoder_attention_heads", "num_heads")),
    ("decoder_heads", "attention heads (decoder)", ("decoder_attention_heads", "num_heads")),
    ("ffn_dim", "feed-forward size", ("encoder_ffn_dim", "d_ff")),
    ("vocab_size", "vocabulary size", ("vocab_size",)),
    ("max_positions", "max positions", ("max_position_embeddings", "n_positions")),
    ("activation", "activation", ("activation_function", "feed_forward_proj")),
    ("tied_embeddings", "tied embeddings", ("share_encoder_decoder_embeddings", "tie_word_embeddings")),
)
ARCH_LABELS = {name: label for name, label, _ in ARCH_FIELDS}


def architecture(config) -> dict:
    """Canonical architecture facts of a config (PretrainedConfig or config.json dict), the same for every
    family (and for a model type no family covers); absent facts are left out (model_type always present)."""
    out = {}
    for name, _, keys in ARCH_FIELDS:
        for key in keys:
            value = _get(config, key)
            if value is not None:
                out[name] = value
                break
    out.setdefault("model_type", None)
    return out


class UnknownFamilyError(ValueError):
    """A checkpoint whose model type (or tokenizer) no registered family covers."""


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    return lang


def other(lang: str) -> str:
    return "en" if check_lang(lang) == "bn" else "bn"


def has_token(tokenizer, token: str) -> bool:
    """Whether `token` is one unit of the tokenizer (some slow tokenizers, e.g. M2M100's, leave their
    language codes out of `get_vocab()`)."""
    if token in tokenizer.get_vocab():
        return True
    tid = tokenizer.convert_tokens_to_ids(token)
    return tid is not None and tid != tokenizer.unk_token_id


def _get(config, key):
    return config.get(key) if isinstance(config, dict) else getattr(config, key, None)


@dataclass(frozen=True)
class Family:
    """One model family: its language conventions, tokenizer, CTranslate2 loader and card metadata."""

    name: str
    model_types: tuple[str, ...]
    style: str                                   # one of STYLES
    tokenizer_class: str                         # class of the family's checkpoints' tokenizer
    ct2_converter: str                           # ctranslate2.converters.transformers loader class
    lang_codes: dict = field(default_factory=dict)   # bn/en → code token (forced_bos) or tag (tag)
    tokenizer_langs: dict = field(default_factory=dict)   # values of tokenizer.src_lang/tgt_lang, if not the codes
    card_tags: tuple[str, ...] = ()
    card_name: str = ""                          # how the card names the family
    example_checkpoints: tuple[str, ...] = ()    # Hub ids users start from (for docs and cards)

    # -- recognising a checkpoint ------------------------------------------------------------------
    def knows_tokenizer(self, tokenizer) -> bool:
        """Whether `tokenizer` carries this family's language codes (tells NLLB from M2M100 codes, ours
        from a T5 vocabulary)."""
        if self.style == "prefix":
            return "t5" in type(tokenizer).__name__.lower()
        if self.style == "tag":
            return type(tokenizer).__name__.startswith("Marian") or self.has_tags(tokenizer)
        return all(has_token(tokenizer, c) for c in self.lang_codes.values())

    def tag(self, tokenizer, lang: str) -> Optional[str]:
        """The target-language tag the tokenizer knows for `lang` (`>>bn<<`, or `>>ben<<`), or None."""
        return next((t for t in TAG_ALIASES[check_lang(lang)] if has_token(tokenizer, t)), None)

    def has_tags(self, tokenizer) -> bool:
        return any(self.tag(tokenizer, lang) for lang in LANGS)

    # -- language handling --------------------------------------------------------------------------
    def code(self, lang: str) -> str:
        return self.lang_codes[check_lang(lang)]

    def prepare_sources(self, texts: Sequence[str], src: str, tgt: str, tokenizer) -> list[str]:
        """Source texts as the model expects them for translation src → tgt (sets `tokenizer.src_lang`
        for code-token families, so call it before tokenizing)."""
        check_lang(src), check_lang(tgt)
        if self.style == "tag":
            tag = self.tag(tokenizer, tgt)
            if tag is None:
                if self.has_tags(tokenizer):
                    raise UnknownFamilyError(f"{type(tokenizer).__name__}: this multilingual Marian tokenizer "
                                             f"has no target tag for {tgt!r} ({' or '.join(TAG_ALIASES[tgt])})")
                return list(texts)   # a single-direction checkpoint (e.g. opus-mt-bn-en)
            return [f"{tag} {t}" for t in texts]
        if self.style == "forced_bos":
            tokenizer.src_lang = self.tokenizer_langs.get(src, self.code(src))
            tokenizer.tgt_lang = self.tokenizer_langs.get(tgt, self.code(tgt))
            return list(texts)
        return [f"translate {LANG_NAMES[src]} to {LANG_NAMES[tgt]}: {t}" for t in texts]

    def generate_kwargs(self, tokenizer, tgt: str) -> dict:
        """Extra `generate` arguments that select the output language."""
        if self.style == "forced_bos":
            return {"forced_bos_token_id": tokenizer.convert_tokens_to_ids(self.code(tgt))}
        return {}

    def ct2_target_prefix(self, tokenizer, tgt: str) -> Optional[list[str]]:
        """The target-side prefix tokens CTranslate2 must start from (the forced BOS), or None."""
        return [self.code(tgt)] if self.style == "forced_bos" else None

    def encode(self, tokenizer, sources, targets, src: str, tgt: str, max_source_length: int = 128,
               max_target_length: int = 128) -> dict:
        """Tokenized inputs + labels for one direction (labels start with the target code where the family
        uses one)."""
        prepared = self.prepare_sources(sources, src, tgt, tokenizer)
        enc = tokenizer(prepared, max_length=max_source_length, truncation=True)
        labels = tokenizer(text_target=list(targets), max_length=max_target_length, truncation=True)["input_ids"]
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}

    def check_tokenizer(self, tokenizer, where: str = "") -> None:
        """Refuse a tokenizer that cannot express bn/en for this family, naming what is missing."""
        if self.style == "forced_bos":
            missing = [c for c in self.lang_codes.values() if not has_token(tokenizer, c)]
            if missing:
                raise UnknownFamilyError(f"{where or type(tokenizer).__name__}: the {self.name} tokenizer lacks "
                                         f"the language code(s) {', '.join(missing)}")

    # -- facts for resume checks and cards ----------------------------------------------------------
    def architecture(self, config) -> dict:
        """Canonical architecture facts of a config (see the module-level `architecture`)."""
        return architecture(config)

    def fingerprint(self, config) -> dict:
        """What must match for a checkpoint to be resumed by a run that builds `config`."""
        arch = self.architecture(config)
        return {k: arch.get(k) for k in ("model_type", "vocab_size", "d_model", "encoder_layers", "decoder_layers")}


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family(name="marian", model_types=("marian",), style="tag", tokenizer_class="MarianTokenizer",
           ct2_converter="MarianMTLoader", lang_codes=dict(TARGET_TAGS), card_tags=("marian", "opus-mt"),
           card_name="Marian (OPUS-MT style; target-language tag in the source)",
           example_checkpoints=("Helsinki-NLP/opus-mt-bn-en", "Helsinki-NLP/opus-mt-en-mul")),
    Family(name="mbart50", model_types=("mbart",), style="forced_bos", tokenizer_class="MBart50TokenizerFast",
           ct2_converter="MBartLoader", lang_codes={"bn": "bn_IN", "en": "en_XX"}, card_tags=("mbart", "mbart-50"),
           card_name="mBART-50 (language codes bn_IN / en_XX, forced BOS)",
           example_checkpoints=("facebook/mbart-large-50-many-to-many-mmt",)),
    Family(name="nllb", model_types=("m2m_100",), style="forced_bos", tokenizer_class="NllbTokenizerFast",
           ct2_converter="M2M100Loader", lang_codes={"bn": "ben_Beng", "en": "eng_Latn"},
           card_tags=("nllb", "m2m_100"), card_name="NLLB-200 (language codes ben_Beng / eng_Latn, forced BOS)",
           example_checkpoints=("facebook/nllb-200-distilled-600M", "facebook/nllb-200-distilled-1.3B")),
    Family(name="m2m100", model_types=("m2m_100",), style="forced_bos", tokenizer_class="M2M100Tokenizer",
           ct2_converter="M2M100Loader", lang_codes={"bn": "__bn__", "en": "__en__"}, tokenizer_langs={"bn": "bn", "en": "en"},
           card_tags=("m2m_100",),
           card_name="M2M100 (language codes __bn__ / __en__, forced BOS)",
           example_checkpoints=("facebook/m2m100_418M",)),
    Family(name="t5", model_types=("t5", "mt5"), style="prefix", tokenizer_class="T5TokenizerFast",
           ct2_converter="T5Loader", card_tags=("t5", "mt5"),
           card_name="T5 / mT5 (task prefix in the source text)",
           example_checkpoints=("google/mt5-small", "csebuetnlp/banglat5")),
)}


def _model_type(config) -> str:
    if isinstance(config, str):
        return config
    model_type = _get(config, "model_type")
    if not model_type:
        raise UnknownFamilyError(f"{type(config).__name__} has no model_type")
    return model_type


def family_for(config, tokenizer=None) -> Family:
    """The family of a checkpoint, from its config (PretrainedConfig, config.json dict or model_type str).

    Where several families share a model type (NLLB and M2M100 are both `m2m_100`), the tokenizer (or the
    config's `tokenizer_class`) decides; without either, the first registered entry wins."""
    model_type = _model_type(config)
    candidates = [f for f in FAMILIES.values() if model_type in f.model_types]
    if not candidates:
        known = sorted({t for f in FAMILIES.values() for t in f.model_types})
        raise UnknownFamilyError(f"model type {model_type!r} is not supported (known: {', '.join(known)}); "
                                 "add a Family to bilingual.modeling.families.FAMILIES")
    if len(candidates) > 1:
        if tokenizer is not None:
            for fam in candidates:
                if fam.knows_tokenizer(tokenizer):
                    return fam
        tok_class = None if isinstance(config, str) else _get(config, "tokenizer_class")
        if tok_class:
            for fam in candidates:
                if fam.tokenizer_class.removesuffix("Fast") == tok_class.removesuffix("Fast"):
                    return fam
    return candidates[0]


def family_for_tokenizer(tokenizer) -> Family:
    """The family whose language convention a tokenizer supports (when no model config is at hand).

    Our own tokenizers carry the `>>bn<<`/`>>en<<` tags and are Marian-family."""
    if all(has_token(tokenizer, TARGET_TAGS[lang]) for lang in LANGS):
        return FAMILIES["marian"]
    for fam in FAMILIES.values():
        if fam.style != "tag" and fam.knows_tokenizer(tokenizer):
            return fam
    if type(tokenizer).__name__.startswith("Marian"):
        return FAMILIES["marian"]
    raise UnknownFamilyError(f"{type(tokenizer).__name__} has no bn/en language convention: train the tokenizer "
                             "with bilingual.modeling.tokenizer or use a Marian, mBART-50, mT5 or NLLB checkpoint")


def family_of_dir(model_dir, tokenizer=None) -> Family:
    """The family of a saved model folder (reads config.json only)."""
    import json
    from pathlib import Path

    path = Path(model_dir) / "config.json"
    try:
        config: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UnknownFamilyError(f"{path}: cannot be read as a model config ({err})") from err
    if not config.get("tokenizer_class"):   # tells NLLB from M2M100 without loading the tokenizer
        try:
            tok_config = json.loads((Path(model_dir) / "tokenizer_config.json").read_text(encoding="utf-8"))
            config["tokenizer_class"] = tok_config.get("tokenizer_class")
        except (OSError, ValueError):
            pass
    return family_for(config, tokenizer)
