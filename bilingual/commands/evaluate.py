"""`bilingual evaluate MODEL_DIR`: BLEU / chrF / chrF++ in both directions on a held-out test set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bilingual import console
from bilingual.evaluation import DIRECTIONS, EvaluationDataError, evaluate_model, load_pairs
from bilingual.inference.backends import names as backend_names
from bilingual.inference.errors import MissingArtifactError
from bilingual.layout import MODEL_EVAL_DIR


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual evaluate", description=__doc__)
    p.add_argument("model_dir", type=Path, help="saved model folder (with tokenizer; onnx/, onnx-int8/, ctranslate2/ for other backends)")
    data = p.add_argument_group("test data (default: bundled NTREX-128, an evaluation-only set)")
    data.add_argument("--bn", type=Path, help="Bengali line file (with --en)")
    data.add_argument("--en", type=Path, help="English line file (with --bn), same line count")
    data.add_argument("--tsv", type=Path, help="Tatoeba-style TSV: en<TAB>bn[<TAB>attribution]")
    data.add_argument("--dataset", type=Path, help="dataset folder loadable with datasets.load_dataset")
    data.add_argument("--split", default="test", help="dataset split (default: test)")
    data.add_argument("--limit", type=int, help="evaluate only the first N pairs")
    p.add_argument("--directions", default=",".join(DIRECTIONS), help="comma-separated, default bn-en,en-bn")
    p.add_argument("--backend", choices=backend_names(), default="pytorch",
                   help="pytorch (default), or an exported artifact: onnx, onnx-int8, ctranslate2")
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--output-dir", type=Path, help="hypotheses + evaluation.json (default MODEL_DIR/eval/<backend>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no third-party warnings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    for flag in ("num_beams", "batch_size", "max_new_tokens"):
        if getattr(args, flag) < 1:
            print(f"error: --{flag.replace('_', '-')} {getattr(args, flag)}: must be at least 1", file=sys.stderr)
            return 2
    try:
        pairs = load_pairs(bn=args.bn, en=args.en, tsv=args.tsv, dataset=args.dataset, split=args.split,
                           limit=args.limit)
        output_dir = args.output_dir or args.model_dir / MODEL_EVAL_DIR / args.backend
        report = evaluate_model(args.model_dir, pairs, directions=[d.strip() for d in args.directions.split(",") if d.strip()],
                                backend=args.backend, num_beams=args.num_beams, batch_size=args.batch_size,
                                max_new_tokens=args.max_new_tokens, output_dir=output_dir)
    except (EvaluationDataError, MissingArtifactError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    console.summary(f"evaluation of {args.model_dir} ({args.backend}, beams {args.num_beams})", [
        {"direction": d, "n": r["n"], "BLEU": r["bleu"], "chrF": r["chrf"], "chrF++": r["chrf++"],
         "primary": r["primary"], "sent/s": r["sentences_per_second"]} for d, r in report.items()])
    print(f"hypotheses and evaluation.json in {output_dir}")
    return 0
