"""The parity gate every export passes before it is put in place, and the folder helpers exports share.

An export is built in a hidden temporary folder (`staged_dir`), its greedy outputs on a sample are compared with
PyTorch's (`Reference.check`), and only then renamed into place with the result in `<folder>/parity.json`:
a failed check leaves no folder that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from bilingual import storage
from bilingual.inference import weights
from bilingual.inference.backends import PARITY_FILE
from bilingual.inference.errors import MissingArtifactError, ParityError
from bilingual.inference.translator import Translator, has_tokenizer
from bilingual.layout import PARALLEL_SAMPLES
from bilingual.modeling import langtags

DEFAULT_SAMPLE = PARALLEL_SAMPLES / "tatoeba-ben-eng.tsv"

# Parity thresholds from issue 7: fp32 must reproduce PyTorch greedy output; int8 may differ a little.
FP32_MIN_IDENTICAL = 0.99
INT8_MIN_IDENTICAL = 0.95
INT8_MAX_CHRF_DROP = 1.0


# --------------------------------------------------------------------------------------------- folders
@contextlib.contextmanager
def staged_dir(final):
    """Yield an empty hidden folder beside `final`; on success it replaces `final`, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def copy_side_files(model_dir, dest, config: bool = True) -> None:
    """Config, generation config and tokenizer files, so an artifact folder loads on its own
    (`config=False` for CTranslate2, whose own config.json must stay)."""
    from transformers import AutoConfig, GenerationConfig

    model_dir, dest = Path(model_dir), Path(dest)
    if config:
        AutoConfig.from_pretrained(model_dir).save_pretrained(dest)
    with contextlib.suppress(OSError):
        GenerationConfig.from_pretrained(model_dir).save_pretrained(dest)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_dir).save_pretrained(dest)


def check_model_dir(model_dir) -> Path:
    """A folder with config.json, weights and a tokenizer, or a clear error naming what is missing."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise MissingArtifactError(f"{model_dir}: no such model folder")
    if not (model_dir / "config.json").exists():
        raise MissingArtifactError(f"{model_dir}: no config.json (not a saved transformers model folder)")
    weights.check_weights(model_dir)
    if not has_tokenizer(model_dir):
        raise MissingArtifactError(f"{model_dir}: no tokenizer (tokenizer.json / tokenizer_config.json); "
                                   "save it with tokenizer.save_pretrained(model_dir) before exporting")
    return model_dir


# --------------------------------------------------------------------------------------------- parity
def _script_lang(text: str) -> str:
    return "bn" if any("\u0980" <= ch <= "\u09ff" for ch in text) else "en"


def parity_sample(sample_texts=None, n: int = 100) -> list[dict]:
    """Items {text, src, tgt, ref} for the parity check.

    `sample_texts`: None (the first `n` bundled Tatoeba pairs, both directions, with references), a list of
    {bn, en} dicts (both directions, with references) or a list of strings (direction from the script, no reference)."""
    if sample_texts is None:
        from bilingual.sources.corpora.readers import read_tsv

        sample_texts = []
        for row in read_tsv(DEFAULT_SAMPLE):
            if row["bn"] and row["en"]:
                sample_texts.append({"bn": row["bn"], "en": row["en"]})
            if len(sample_texts) >= (n + 1) // 2:
                break
    items = []
    for s in sample_texts:
        if isinstance(s, str):
            src = _script_lang(s)
            items.append({"text": s, "src": src, "tgt": langtags.other(src), "ref": None})
        else:
            items.append({"text": s["bn"], "src": "bn", "tgt": "en", "ref": s["en"]})
            items.append({"text": s["en"], "src": "en", "tgt": "bn", "ref": s["bn"]})
    return items[:n] if n else items


def greedy_outputs(translator: Translator, items: Sequence[dict], max_new_tokens: int = 64,
                   batch_size: int = 16) -> list[str]:
    """Greedy translations of `items` (grouped by direction), in item order."""
    out: list[str] = [""] * len(items)
    for src, tgt in {(it["src"], it["tgt"]) for it in items}:
        idx = [i for i, it in enumerate(items) if (it["src"], it["tgt"]) == (src, tgt)]
        hyps = translator.translate([items[i]["text"] for i in idx], src, tgt, num_beams=1,
                                    batch_size=batch_size, max_new_tokens=max_new_tokens)
        for i, h in zip(idx, hyps):
            out[i] = h
    return out


def compare(reference_hyps: Sequence[str], hyps: Sequence[str], items: Sequence[dict], min_identical: float,
            max_chrf_drop: Optional[float] = None) -> dict:
    """Share of identical sequences and the chrF change, against references where given, else PyTorch output."""
    from sacrebleu.metrics import CHRF

    n = len(hyps)
    same = sum(a == b for a, b in zip(reference_hyps, hyps))
    refs = [it["ref"] if it.get("ref") is not None else r for it, r in zip(items, reference_hyps)]
    chrf_pt = CHRF().corpus_score(list(reference_hyps), [refs]).score
    chrf = CHRF().corpus_score(list(hyps), [refs]).score
    identical = same / n if n else 0.0
    passed = n > 0 and identical >= min_identical and (max_chrf_drop is None or chrf_pt - chrf <= max_chrf_drop)
    mismatches = [{"src": it["text"], "pytorch": a, "export": b}
                  for it, a, b in zip(items, reference_hyps, hyps) if a != b][:5]
    return {"identical": round(identical, 4), "n": n, "chrf": round(chrf, 2), "chrf_pytorch": round(chrf_pt, 2),
            "chrf_drop": round(chrf_pt - chrf, 2), "min_identical": min_identical, "max_chrf_drop": max_chrf_drop,
            "passed": passed, "mismatches": mismatches}


def gate(name: str, final_dir: Path, staged: Path, result: dict) -> dict:
    """Raise ParityError when the check failed (the staged folder is then removed by `staged_dir`); else record
    the result as `<staged>/parity.json`, which `backends.present()` and `serve` read back."""
    if not result["passed"]:
        why = f"{result['identical']:.1%} identical (need ≥ {result['min_identical']:.0%})"
        if result.get("max_chrf_drop") is not None:
            why += f", chrF {result['chrf']:.2f} vs PyTorch {result['chrf_pytorch']:.2f} " \
                   f"(allowed drop {result['max_chrf_drop']})"
        raise ParityError(f"{name} export failed its parity check against PyTorch greedy output on "
                          f"{result['n']} sentences: {why}; nothing was written to {final_dir}", result)
    # published beside the model: the folder's own name, not the building machine's path
    storage.write_json(Path(staged) / PARITY_FILE, {**result, "dir": Path(final_dir).name})
    return result


class Reference:
    """PyTorch greedy outputs on the parity sample, computed once and shared by every artifact's check."""

    def __init__(self, model_dir, sample_texts=None, n: int = 100, max_new_tokens: int = 64):
        self.items = parity_sample(sample_texts, n)
        self.max_new_tokens = max_new_tokens
        self.hyps = greedy_outputs(Translator(model_dir, "pytorch"), self.items, max_new_tokens)

    def check(self, translator: Translator, min_identical: float, max_chrf_drop: Optional[float] = None) -> dict:
        hyps = greedy_outputs(translator, self.items, self.max_new_tokens)
        return compare(self.hyps, hyps, self.items, min_identical, max_chrf_drop)


