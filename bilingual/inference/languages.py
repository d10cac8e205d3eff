"""How the target language is chosen, for every backend, behind two calls.

This is the one place the inference code asks a model family anything: today it answers from
`bilingual.modeling.langtags` (target tag, mBART language codes, T5 prefix); it is meant to be pointed at
`bilingual.modeling.families` (`family_for(config).prepare_sources / generate_kwargs`) when that lands,
without touching the backends.
"""

from __future__ import annotations

from bilingual.modeling import langtags


def prepare_sources(texts, src_lang: str, tgt_lang: str, tokenizer) -> list[str]:
    """Source texts as the model expects them for translation into `tgt_lang`."""
    return langtags.prepare_sources(texts, src_lang, tgt_lang, tokenizer)


def generate_kwargs(tgt_lang: str, tokenizer) -> dict:
    """Extra `generate` arguments that force the output language (e.g. `forced_bos_token_id`)."""
    return langtags.generation_kwargs(tgt_lang, tokenizer)


def target_prefix_token(tgt_lang: str, tokenizer):
    """The token a decoder must start with (CTranslate2's `target_prefix`), or None."""
    forced = generate_kwargs(tgt_lang, tokenizer).get("forced_bos_token_id")
    return None if forced is None else tokenizer.convert_ids_to_tokens(forced)
