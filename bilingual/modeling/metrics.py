"""The one sacreBLEU setup, used by dev scoring during training and by `bilingual evaluate`, so both report
the same figures with the same signatures.

Why these settings: sacreBLEU's default 13a tokenizer leaves the Bengali danda glued to words and
under-scores Bengali output, so BLEU into Bengali uses the `intl` tokenizer (Unicode punctuation split, no
download; the flores tokenizers need a downloaded model) and chrF is the primary metric into Bengali.
"""

from __future__ import annotations

from typing import Sequence

BLEU_TOKENIZE = {"en": "13a", "bn": "intl"}
PRIMARY = {"en": "bleu", "bn": "chrf"}


def score(hypotheses: Sequence[str], references: Sequence[str], tgt_lang: str) -> dict:
    """BLEU, chrF and chrF++ (corpus level, rounded to 2 places) with their sacreBLEU signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu = BLEU(tokenize=BLEU_TOKENIZE[tgt_lang])
    chrf, chrfpp = CHRF(), CHRF(word_order=2)
    hyps, refs = list(hypotheses), [list(references)]
    out = {"bleu": round(bleu.corpus_score(hyps, refs).score, 2),
           "chrf": round(chrf.corpus_score(hyps, refs).score, 2),
           "chrf++": round(chrfpp.corpus_score(hyps, refs).score, 2)}
    out["signatures"] = {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature()),
                         "chrf++": str(chrfpp.get_signature())}
    out["primary"] = PRIMARY[tgt_lang]
    return out
