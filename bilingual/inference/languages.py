"""How the target language is chosen, for every backend, behind these calls: the one place the inference
code asks a model family anything (`bilingual.modeling.families`: target tag, forced BOS language code, T5
prefix), so a new family needs no change in the backends."""

from __future__ import annotations

from bilingual.modeling.families import family_for_tokenizer


def prepare_sources(texts, src_lang: str, tgt_lang: str, tokenizer) -> list[str]:
    """Source texts as the model expects them for translation into `tgt_lang`."""
    return family_for_tokenizer(tokenizer).prepare_sources(texts, src_lang, tgt_lang, tokenizer)


def generate_kwargs(tgt_lang: str, tokenizer) -> dict:
    """Extra `generate` arguments that force the output language (e.g. `forced_bos_token_id`)."""
    return family_for_tokenizer(tokenizer).generate_kwargs(tokenizer, tgt_lang)


def target_prefix_token(tgt_lang: str, tokenizer):
    """The token a decoder must start with (CTranslate2's `target_prefix`), or None."""
    forced = generate_kwargs(tgt_lang, tokenizer).get("forced_bos_token_id")
    return None if forced is None else tokenizer.convert_ids_to_tokens(forced)
