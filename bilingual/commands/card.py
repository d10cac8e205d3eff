"""`card`: write a model folder's README.md model card from what earlier stages wrote — a run's report.json
(`bilingual run`), or, step by step, the training folder's train_results.json and `bilingual evaluate`'s JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bilingual import console
from bilingual.layout import (DEFAULT_DATASET_REPO, DEFAULT_MODEL_REPO, EVALUATION_JSON, MODEL_EVAL_DIR, ONNX_DIR,
                              REPORT_JSON, TRAIN_RESULTS_JSON)
from bilingual.publishing import cards


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual card", description=__doc__)
    p.add_argument("--model", required=True, type=Path, help="saved model folder (config.json, weights, tokenizer)")
    p.add_argument("--report", type=Path,
                   help=f"run report JSON (default: MODEL/../{REPORT_JSON} or MODEL/{REPORT_JSON} when there is one)")
    p.add_argument("--training", type=Path, metavar="DIR",
                   help=f"training output folder holding {TRAIN_RESULTS_JSON} (default: MODEL, when it holds one)")
    p.add_argument("--evaluation", type=Path, action="append", default=[], metavar="JSON",
                   help=f"`bilingual evaluate` output ({EVALUATION_JSON}); repeatable "
                        f"(default: MODEL/{MODEL_EVAL_DIR}/pytorch/{EVALUATION_JSON}, when there is one)")
    p.add_argument("--test-set", help="name of the data the evaluation JSON scored (e.g. 'NTREX-128'), for the card")
    p.add_argument("--dataset-repo", default=DEFAULT_DATASET_REPO, help="Hub id of the training dataset")
    p.add_argument("--model-repo", default=DEFAULT_MODEL_REPO, help="Hub id the model is published under")
    p.add_argument("--license", default=None, help="model licence id (default: the report's 'license', else 'other')")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def gather_report(args) -> tuple[dict, str]:
    """The report the card is made from, and where it came from (for the summary)."""
    report_path = args.report
    if report_path is None:
        report_path = next((c for c in (args.model.parent / REPORT_JSON, args.model / REPORT_JSON) if c.is_file()),
                           None)
    training = args.training
    if training is None and report_path is None and (args.model / TRAIN_RESULTS_JSON).is_file():
        training = args.model
    evaluation = list(args.evaluation)
    default_eval = args.model / MODEL_EVAL_DIR / "pytorch" / EVALUATION_JSON
    if not evaluation and report_path is None and default_eval.is_file():
        evaluation = [default_eval]
    if report_path is None and training is None and not evaluation:
        raise cards.CardError(f"nothing to make a card from: {args.model} has no {TRAIN_RESULTS_JSON} and no "
                              f"{REPORT_JSON} beside it; give --report RUN/{REPORT_JSON}, or --training DIR and "
                              f"--evaluation {EVALUATION_JSON} (from `bilingual evaluate`)")
    report = cards.load_report(report_path) if report_path is not None else {}
    report.update(cards.assemble_report(training, evaluation, test_set=args.test_set))
    origin = [str(p) for p in [report_path, training and training / TRAIN_RESULTS_JSON, *evaluation] if p]
    return report, ", ".join(origin)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    try:
        report, origin = gather_report(args)
        path = cards.write_model_card(args.model, report, dataset_repo=args.dataset_repo,
                                      model_repo=args.model_repo, license=args.license)
    except cards.CardError as err:
        print(f"bilingual card: error: {err}", file=sys.stderr)
        return 2
    evaluation = report.get("evaluation") if isinstance(report.get("evaluation"), dict) else {}
    verdict = cards.quality(cards.clean_report(report))
    console.summary("model card", {
        "written": str(path),
        "made from": origin,
        "directions scored": ", ".join(sorted(evaluation)) or "none (the card says so)",
        "training section": "yes" if isinstance(report.get("training"), dict) else "missing (the card says so)",
        "verdict": ("no chrF recorded: not evaluated" if verdict is None else
                    f"smoke test (chrF {verdict['chrf']:.1f} < {verdict['threshold']:.0f})" if verdict["smoke_test"]
                    else f"translator (chrF {verdict['chrf']:.1f})"),
        f"{ONNX_DIR}/": "yes" if (args.model / ONNX_DIR).is_dir() else "no",
    })
    return 0
