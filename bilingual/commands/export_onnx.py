"""`bilingual export MODEL_DIR`: ONNX (Optimum, with past), optional int8 and CTranslate2, each parity-checked
against PyTorch greedy output; a failed check exits non-zero and leaves no finished-looking folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bilingual import console, storage
from bilingual.inference.errors import ExportError, MissingArtifactError
from bilingual.inference.export import export_all


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual export", description=__doc__)
    p.add_argument("model_dir", type=Path, help="saved model folder (model + tokenizer)")
    p.add_argument("--quantize", action="store_true", help="also write int8 (dynamic) ONNX to MODEL_DIR/onnx-int8 (with --no-onnx: "
                   "quantizes the fp32 export already in MODEL_DIR/onnx)")
    p.add_argument("--ctranslate2", action="store_true", help="also convert to CTranslate2 int8 in MODEL_DIR/ctranslate2")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (e.g. only --ctranslate2)")
    p.add_argument("--sample", type=Path, help="parity sample: TSV en<TAB>bn (default: bundled Tatoeba pairs)")
    p.add_argument("--n-sample", type=int, default=100, help="sentences in the parity check (default 100)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--report", type=Path, help="write the export results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no third-party warnings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    if args.no_onnx and not (args.quantize or args.ctranslate2):
        print("error: --no-onnx leaves nothing to do: add --ctranslate2 and/or --quantize", file=sys.stderr)
        return 2
    sample = None
    if args.sample:
        from bilingual.evaluation import EvaluationDataError, load_pairs

        try:
            sample = load_pairs(tsv=args.sample)
        except EvaluationDataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    try:
        report = export_all(args.model_dir, onnx=not args.no_onnx, quantize=args.quantize,
                            ctranslate2=args.ctranslate2, sample_texts=sample, n_sample=args.n_sample,
                            max_new_tokens=args.max_new_tokens)
    except (ExportError, MissingArtifactError) as err:
        print(f"error: {err}", file=sys.stderr)
        result = getattr(err, "result", None)
        if result and result.get("mismatches"):
            print("first differences: " + json.dumps(result["mismatches"][:3], ensure_ascii=False), file=sys.stderr)
        return 1
    if args.report:
        storage.write_json(args.report, report)
    console.summary(f"export of {args.model_dir}", [
        {"artifact": name, "dir": r["dir"], "identical": r["identical"], "n": r["n"], "chrF": r["chrf"],
         "chrF PyTorch": r["chrf_pytorch"], "passed": "yes" if r["passed"] else "no"} for name, r in report.items()])
    return 0
