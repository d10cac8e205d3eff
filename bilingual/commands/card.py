"""`card`: write a model folder's README.md model card from a run report (`report.json`) and the model's own files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bilingual import console
from bilingual.publishing import cards


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="card", description=__doc__)
    p.add_argument("--model", required=True, type=Path, help="saved model folder (config.json, weights, tokenizer)")
    p.add_argument("--report", type=Path, help="run report JSON (default: MODEL/../report.json, then MODEL/report.json)")
    p.add_argument("--dataset-repo", default=cards.DEFAULT_DATASET_REPO, help="Hub id of the training dataset")
    p.add_argument("--model-repo", default=cards.DEFAULT_MODEL_REPO, help="Hub id the model is published under")
    p.add_argument("--license", default=None, help="model licence id (default: the report's 'license', else 'other')")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    report_path = args.report
    if report_path is None:
        candidates = [args.model.parent / "report.json", args.model / "report.json"]
        report_path = next((c for c in candidates if c.is_file()), candidates[0])
    try:
        report = cards.load_report(report_path)
        path = cards.write_model_card(args.model, report, dataset_repo=args.dataset_repo,
                                      model_repo=args.model_repo, license=args.license)
    except cards.CardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    evaluation = report.get("evaluation") if isinstance(report.get("evaluation"), dict) else {}
    console.summary("model card", {
        "written": str(path),
        "report": str(report_path),
        "directions scored": ", ".join(sorted(evaluation)) or "none (section says so)",
        "sources listed": len(report.get("sources") or []),
        "training section": "yes" if isinstance(report.get("training"), dict) else "missing (section says so)",
        "onnx/": "yes" if (args.model / "onnx").is_dir() else "no",
    })
    return 0
