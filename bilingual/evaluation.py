"""Translation quality in both directions with sacreBLEU (BLEU, chrF, chrF++ and their signatures), on any
Translator backend, so the PyTorch model and its ONNX / CTranslate2 exports are scored the same way.

Metric choices: sacreBLEU's default 13a tokenizer leaves the Bengali danda glued to words and under-scores
Bengali output, so BLEU into Bengali uses the `intl` tokenizer (Unicode punctuation split, no download; the
flores tokenizers need a downloaded model) and chrF is the primary metric for en→bn. Signatures record it.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Iterable, Optional

from bilingual import console, storage
from bilingual.modeling import langtags
from bilingual.inference.translator import Translator
from bilingual.layout import EVALUATION_JSON, PARALLEL_SAMPLES
from bilingual.modeling.metrics import BLEU_TOKENIZE, PRIMARY, score  # noqa: F401  (the one metric setup)

DIRECTIONS = ("bn-en", "en-bn")
SAMPLES = PARALLEL_SAMPLES
# Held out by default: NTREX-128 is an evaluation-only set (professional news translations); the default
# recipe must not train on it (evaluation sets named in a recipe are removed from training data).
DEFAULT_TEST = {"en": SAMPLES / "ntrex128" / "newstest2019-src.eng.txt",
                "bn": SAMPLES / "ntrex128" / "newstest2019-ref.ben.txt"}


class EvaluationDataError(ValueError):
    """Test data that cannot be read; the message names the file or dataset and what is wrong."""


# ------------------------------------------------------------------------------------------------ data
def load_pairs(bn=None, en=None, tsv=None, dataset=None, split: str = "test", limit: Optional[int] = None) -> list[dict]:
    """Test pairs as [{bn, en}] from line-aligned files, a Tatoeba-style TSV (en<TAB>bn) or a saved dataset
    folder (`datasets.load_dataset(dir)[split]`, columns bn/en or translation={bn,en}); default NTREX-128."""
    from bilingual.sources.corpora import readers as corpora

    if limit is not None and limit < 1:
        raise EvaluationDataError(f"--limit {limit}: give a positive number of pairs (or leave it out for all)")
    try:
        if dataset is not None:
            pairs = _dataset_pairs(dataset, split)
        elif tsv is not None:
            pairs = _tsv_pairs(_existing(tsv), corpora)
        else:
            if (bn is None) != (en is None):
                raise EvaluationDataError("give both --bn and --en line files (or --tsv, or --dataset)")
            bn, en = (bn, en) if bn is not None else (DEFAULT_TEST["bn"], DEFAULT_TEST["en"])
            pairs = [{"bn": r["bn"], "en": r["en"]}
                     for r in corpora.read_aligned(_existing(bn), _existing(en), source="test", license="")]
    except corpora.CorpusFormatError as err:
        raise EvaluationDataError(str(err)) from err
    except UnicodeDecodeError as err:
        raise EvaluationDataError(f"{tsv or bn or en}: not UTF-8 text ({err.reason} at byte {err.start}); "
                                  "convert it to UTF-8") from err
    except csv.Error as err:  # e.g. a field over the csv module's 128 KiB limit: not a sentence-per-line file
        raise EvaluationDataError(f"{tsv}: not a sentence-pair TSV ({err}); expected en<TAB>bn per line") from err
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        raise EvaluationDataError(f"{dataset or tsv or bn}: no sentence pairs to evaluate")
    return pairs


def _tsv_pairs(path: Path, corpora) -> list[dict]:
    """Pairs of an en<TAB>bn TSV; a line without both sides is an error naming it (it would be scored against
    an empty reference)."""
    pairs = []
    for row in corpora.read_tsv(path):
        if not (row["bn"].strip() and row["en"].strip()):
            line = row["provenance"]["line"]
            raise EvaluationDataError(f"{path}: line {line}: needs English<TAB>Bengali, one side is missing or "
                                      "empty; fix or remove the line")
        pairs.append({"bn": row["bn"], "en": row["en"]})
    return pairs


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EvaluationDataError(f"{path}: no such file")
    return path


def _dataset_pairs(folder, split: str) -> list[dict]:
    import datasets

    folder = Path(folder)
    if not folder.exists():
        raise EvaluationDataError(f"{folder}: no such dataset folder")
    try:
        ds = datasets.load_dataset(str(folder))
    except Exception as err:  # datasets raises many types for unreadable folders
        raise EvaluationDataError(f"{folder}: cannot be loaded with datasets.load_dataset: {err}") from err
    if split not in ds:
        raise EvaluationDataError(f"{folder}: no split {split!r} (has: {', '.join(ds)})")
    part = ds[split]
    if {"bn", "en"} <= set(part.column_names):
        return [{"bn": b, "en": e} for b, e in zip(part["bn"], part["en"])]
    if "translation" in part.column_names:
        return [{"bn": t["bn"], "en": t["en"]} for t in part["translation"]]
    raise EvaluationDataError(f"{folder}[{split}]: needs columns bn and en (or translation); "
                              f"has {', '.join(part.column_names)}")


# ------------------------------------------------------------------------------------------------ run
def evaluate_model(model_dir, pairs=None, directions: Iterable[str] = DIRECTIONS, backend: str = "pytorch",
                   num_beams: int = 4, batch_size: int = 32, max_new_tokens: int = 128, output_dir=None,
                   translator: Optional[Translator] = None, chunk: int = 256) -> dict:
    """Translate `pairs` ([{bn, en}] or a `datasets.Dataset` with bn/en columns; default NTREX-128) in each
    direction and score it. Returns {"bn-en": {"bleu", "chrf", "chrf++", "signatures", "n", "backend",
    "num_beams", ...}, "en-bn": {...}} (report.json's "evaluation" section). With `output_dir`, writes
    `hyp.<direction>.<tgt>` (one line per source line) and `evaluation.json` there."""
    pairs = load_pairs() if pairs is None else [{"bn": p["bn"], "en": p["en"]} for p in pairs]
    translator = translator or Translator(model_dir, backend=backend)
    output_dir = Path(output_dir) if output_dir else None
    report: dict = {}
    for direction in directions:
        src, tgt = _direction(direction)
        sources = [p[src] for p in pairs]
        hyps: list[str] = []
        started = time.perf_counter()
        bar = console.progress(total=len(sources), desc=f"{direction} ({translator.backend})", unit="sent")
        for start in range(0, len(sources), chunk):
            part = sources[start:start + chunk]
            hyps += translator.translate(part, src, tgt, num_beams=num_beams, batch_size=batch_size,
                                         max_new_tokens=max_new_tokens)
            bar.update(len(part))
        bar.close()
        seconds = time.perf_counter() - started
        result = score(hyps, [p[tgt] for p in pairs], tgt)
        result.update(n=len(pairs), backend=translator.backend, num_beams=num_beams,
                      seconds=round(seconds, 2), sentences_per_second=round(len(pairs) / seconds, 2) if seconds else None)
        if output_dir is not None:
            hyp_path = output_dir / f"hyp.{direction}.{tgt}"
            storage.write_text(hyp_path, "".join(h.replace("\n", " ") + "\n" for h in hyps))
            result["hypotheses"] = str(hyp_path)
        report[direction] = result
    if output_dir is not None:
        storage.write_json(output_dir / EVALUATION_JSON, report)
    return report


def _direction(direction: str) -> tuple[str, str]:
    try:
        src, tgt = direction.split("-")
        langtags.check_lang(src), langtags.check_lang(tgt)
    except ValueError:
        raise ValueError(f"unknown direction {direction!r}: expected one of {', '.join(DIRECTIONS)}") from None
    if src == tgt:
        raise ValueError(f"direction {direction!r} translates a language into itself")
    return src, tgt
