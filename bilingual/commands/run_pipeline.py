"""`python scripts/run_pipeline.py` / `bilingual run`: the whole job on the bundled samples (or a recipe)."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from bilingual import console
from bilingual.layout import DATASET_DIR, MODEL_DIR, REPORT_HTML


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual run", description=(
        "Run every stage — sources, corpus + filters, tokenizer, training, evaluation, ONNX export, cards, "
        "publish (dry run) and the HTML report — into one run folder. Rerunning into the same folder with the "
        "same settings skips finished stages; other settings are refused."))
    p.add_argument("--output-dir", type=Path, default=None,
                   help="run folder (default: a new runs/<UTC timestamp>/)")
    p.add_argument("--recipe", type=Path, default=None, help="pipeline recipe YAML (default: recipes/pipeline/default.yaml)")
    p.add_argument("--max-steps", type=int, default=None, help="override the training recipe's max_steps")
    p.add_argument("--no-publish", action="store_true", help="skip the publish dry run")
    p.add_argument("--quiet", action="store_true", help="no progress bars (summaries are still printed)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    from bilingual import workflow

    out = args.output_dir or Path("runs") / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    overrides = {"training.max_steps": args.max_steps} if args.max_steps is not None else {}
    report = workflow.run_pipeline(out, args.recipe or workflow.DEFAULT_RECIPE, train_overrides=overrides,
                                   publish=not args.no_publish)
    print_summary(report)
    return 0


def print_summary(report: dict) -> None:
    console.summary("Stages", [{"stage": s["name"], "seconds": s["seconds"], "in": s.get("records_in") or "",
                                "out": s.get("records_out") or ""} for s in report["stages"]])
    rows = {}
    corpus = report.get("corpus", {})
    for split, n in (corpus.get("splits") or {}).items():
        rows[f"pairs: {split}"] = n
    training = report.get("training", {})
    if training.get("parameters"):
        rows["model parameters"] = training["parameters"]
    for direction, res in (report.get("evaluation") or {}).items():
        if isinstance(res, dict) and "chrf" in res:
            rows[f"{direction} chrF / BLEU"] = f"{res['chrf']:.1f} / {res['bleu']:.1f}"
    for name, res in (report.get("export") or {}).items():
        if isinstance(res, dict) and "identical" in res:
            rows[f"{name} parity (identical)"] = f"{res['identical']:.1%}"
    run_dir = Path(report["run_dir"])
    rows["dataset"] = str(run_dir / DATASET_DIR)
    rows["model"] = str(run_dir / MODEL_DIR)
    rows["report"] = str(run_dir / REPORT_HTML)
    console.summary("Run summary", rows)
