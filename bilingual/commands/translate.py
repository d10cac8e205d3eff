"""`bilingual translate`: translate text from arguments, stdin or a file with a trained model.

One line in, one line out (order kept), through the same `Translator` the service and evaluation use.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

from bilingual.inference.backends import REGISTRY
from bilingual.modeling.langtags import LANGS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bilingual translate",
        description="Translate Bangla<->English text with a trained model (one line in, one line out).",
        epilog="examples:\n"
               "  bilingual translate --model out/model --src en --tgt bn \"How are you?\"\n"
               "  echo 'আমি ভাত খাই।' | bilingual translate --model out/model --src bn --tgt en\n"
               "  bilingual translate --model out/model --src en --tgt bn --input in.txt --output out.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="*", help="text to translate (each argument is one segment); "
                                           "without text or --input, lines are read from stdin")
    p.add_argument("--model", required=True, help="model folder (save_pretrained output; ONNX in <model>/onnx)")
    p.add_argument("--backend", choices=list(REGISTRY), default="pytorch",
                   help="inference backend (default: pytorch); "
                        + "; ".join(f"{b.name} needs <model>/{b.folder} from '{b.made_by}'"
                                    for b in REGISTRY.values() if b.folder))
    p.add_argument("--src", choices=LANGS, required=True, help="source language")
    p.add_argument("--tgt", choices=LANGS, help="target language (default: the other one)")
    p.add_argument("--beams", type=int, default=1, help="beam size (default: 1, greedy)")
    p.add_argument("--batch-size", type=int, default=32, help="segments per model call (default: 32)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="longest output in tokens (default: 128)")
    p.add_argument("--input", help="read segments from this UTF-8 file, one per line")
    p.add_argument("--output", help="write translations to this file, one per line (default: stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary table, no third-party warnings")
    return p


def read_segments(args) -> list[str]:
    if args.input and args.text:
        raise ValueError("give text arguments or --input FILE, not both")
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise FileNotFoundError(f"--input {path}: no such file")
        data = path.read_bytes()
        try:
            return data.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError as err:
            line = data[:err.start].count(b"\n") + 1
            raise ValueError(f"--input {path}: line {line} is not UTF-8 ({err.reason} at byte {err.start}); "
                             "convert the file to UTF-8") from None
    if args.text:
        return list(args.text)
    if sys.stdin is None or sys.stdin.isatty():
        raise ValueError("no text: give it as arguments, with --input FILE, or on stdin")
    return sys.stdin.read().splitlines()


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        from bilingual.console import set_quiet

        set_quiet(True)
    tgt = args.tgt or ("en" if args.src == "bn" else "bn")
    if tgt == args.src:
        raise ValueError(f"--src and --tgt are both {tgt!r}")
    if args.beams < 1 or args.batch_size < 1 or args.max_new_tokens < 1:
        raise ValueError("--beams, --batch-size and --max-new-tokens must be at least 1")
    model = Path(args.model)
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"--model {model}: no config.json there (not a saved model folder)")
    segments = read_segments(args)

    from bilingual.console import progress
    from bilingual.inference.translator import Translator

    load_started = time.perf_counter()
    translator = Translator(model, backend=args.backend)
    loaded = time.perf_counter()
    # empty lines stay empty (keeps line alignment with the input)
    todo = [i for i, s in enumerate(segments) if s.strip()]
    out = [""] * len(segments)
    chunk = max(args.batch_size * 8, 256)  # big enough for length-sorted batches, small enough for a live bar
    with progress(desc=f"translate {args.src}->{tgt}", total=len(todo), unit="seg") as bar:
        for first in range(0, len(todo), chunk):
            idx = todo[first:first + chunk]
            done = translator.translate([segments[i] for i in idx], args.src, tgt, num_beams=args.beams,
                                        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
            for i, text in zip(idx, done):
                out[i] = text
            bar.update(len(idx))
    finished = time.perf_counter()
    text = "".join(line + "\n" for line in out)
    if args.output:
        from bilingual.storage import write_text

        write_text(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if not args.quiet:
        _summary_to_stderr({"direction": f"{args.src}->{tgt}", "backend": args.backend, "segments": len(segments),
                            "translated": len(todo), "load s": loaded - load_started, "translate s": finished - loaded,
                            "output": args.output or "stdout"})
    return 0


def _summary_to_stderr(rows: dict) -> None:
    """The closing summary goes to stderr so stdout carries only translations (pipes stay clean)."""
    from rich.console import Console

    from bilingual import console

    saved = console.console
    console.console = Console(stderr=True, highlight=False)
    try:
        console.summary("translate", rows)
    finally:
        console.console = saved
