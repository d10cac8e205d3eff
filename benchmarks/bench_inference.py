"""CPU inference: PyTorch (baseline) vs ONNX Runtime fp32 / int8 vs CTranslate2 int8, one run, same sentences.

Measures latency at batch 1 (median / p90 per sentence) and throughput at batch 32 (sentences/s) for en→bn on
NTREX-128 source sentences, for each setting of intra-op threads (default: 1 and all cores) and beam size
(default: greedy, and beam 4 as `bilingual evaluate` and CTranslate2's own benchmark use). The model is a "small"
Marian (default d_model 512, 6+6 layers, 8 heads, FFN 2048, vocab from a Unigram tokenizer trained on the bundled
Tatoeba TSV: 4,176 tokens) with RANDOM weights; every backend generates exactly --new-tokens tokens (min = max new
tokens), so all do the same work whatever EOS would say. Artifacts are made with the project's own export code
(parity gates are skipped: random weights have no meaningful parity). Within a setting the backends are measured
in interleaved rounds and the ratios are medians against PyTorch with the same threads and beams.

    flock /tmp/bench.lock env PYTHONPATH=. .venv/bin/python benchmarks/bench_inference.py --json /tmp/bench_inference.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

NTREX_EN = REPO / "data" / "samples" / "parallel" / "ntrex128" / "newstest2019-src.eng.txt"


def build_model(folder: Path, d_model: int, layers: int, vocab: int) -> Path:
    from _helpers import random_marian

    return random_marian(folder, d_model=d_model, layers=layers, heads=8, vocab=vocab)


def make_artifacts(model_dir: Path) -> dict:
    from bilingual.inference.backends.ctranslate2 import _converter
    from bilingual.inference.backends.onnx import _export_fp32, _quantize
    from bilingual.inference.backends.parity import copy_side_files

    seconds = {}
    t = time.perf_counter()
    _export_fp32(model_dir, model_dir / "onnx")
    copy_side_files(model_dir, model_dir / "onnx")
    seconds["onnx export"] = time.perf_counter() - t
    t = time.perf_counter()
    (model_dir / "onnx-int8").mkdir()
    _quantize(model_dir / "onnx", model_dir / "onnx-int8")
    copy_side_files(model_dir, model_dir / "onnx-int8")
    seconds["onnx int8 quantization"] = time.perf_counter() - t
    t = time.perf_counter()
    _converter(model_dir).convert(str(model_dir / "ctranslate2"), quantization="int8", force=True)
    copy_side_files(model_dir, model_dir / "ctranslate2", config=False)
    seconds["ctranslate2 int8 conversion"] = time.perf_counter() - t
    return seconds


BACKENDS = (("PyTorch fp32", "pytorch", None), ("ONNX Runtime fp32", "onnx", None),
            ("ONNX Runtime int8", "onnx-int8", None), ("CTranslate2 int8", "ctranslate2", None))
# --optimum-default-int8: what ORTQuantizer gives without our pre-processing and weight-only selection
OPTIMUM_DEFAULT = ("ONNX Runtime int8, Optimum default (all MatMuls)", "onnx-int8", "onnx-int8-optimum-default")


def make_optimum_default_int8(model_dir: Path) -> None:
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    from bilingual.inference.backends.onnx import ONNX_FILES
    from bilingual.inference.backends.parity import copy_side_files

    dest = model_dir / OPTIMUM_DEFAULT[2]
    config = AutoQuantizationConfig.avx2(is_static=False, per_channel=False)
    for name in ONNX_FILES:
        ORTQuantizer.from_pretrained(model_dir / "onnx", file_name=name).quantize(
            save_dir=dest, quantization_config=config, file_suffix="")
    copy_side_files(model_dir, dest)


def measure_once(translator, latency_texts, throughput_texts, new_tokens: int, beams: int) -> dict:
    """One round for one backend: batch-1 latency per sentence, then batch-32 throughput."""
    kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=beams)
    translator.translate(latency_texts[:2], "en", "bn", batch_size=1, **kw)  # warm-up (allocators, caches)
    times = []
    for text in latency_texts:
        t = time.perf_counter()
        translator.translate([text], "en", "bn", batch_size=1, **kw)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    out = translator.translate(throughput_texts, "en", "bn", batch_size=32, **kw)
    seconds = time.perf_counter() - t
    lengths = {len(translator.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in out[:8]}
    return {"latency_ms_median": 1000 * statistics.median(times),
            "latency_ms_p90": 1000 * sorted(times)[int(0.9 * (len(times) - 1))],
            "throughput_sent_s": len(throughput_texts) / seconds, "output_token_counts": sorted(lengths)}


def measure_setting(model_dir, threads: int, beams: int, rounds: int, latency_texts, throughput_texts,
                    new_tokens: int, backends=BACKENDS) -> list[dict]:
    """All backends at one (threads, beams) setting, interleaved over `rounds` rounds; medians per backend.

    Interleaving puts every backend through the same stretch of machine load, so the ratios against PyTorch
    stay meaningful on a noisy shared machine even when the absolute numbers drift."""
    from bilingual.inference.translator import Translator

    translators = [(name, Translator(model_dir, backend, subfolder, threads=threads))
                   for name, backend, subfolder in backends]
    per_backend: dict = {name: [] for name, _ in translators}
    for r in range(rounds):
        order = translators[r % len(translators):] + translators[:r % len(translators)]  # rotate who goes first
        for name, tr in order:
            if tr.backend == "pytorch":
                import torch

                torch.set_num_threads(threads)
            per_backend[name].append(measure_once(tr, latency_texts, throughput_texts, new_tokens, beams))
    rows = []
    for name, _ in translators:
        runs = per_backend[name]
        row = {"backend": name, "threads": threads, "beams": beams, "rounds": runs}
        for key in ("latency_ms_median", "latency_ms_p90", "throughput_sent_s"):
            row[key] = statistics.median(run[key] for run in runs)
        row["throughput_range"] = [min(run["throughput_sent_s"] for run in runs),
                                   max(run["throughput_sent_s"] for run in runs)]
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["throughput_x"] = row["throughput_sent_s"] / base["throughput_sent_s"]
        row["latency_x"] = base["latency_ms_median"] / row["latency_ms_median"]
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| backend | latency b=1 median ms | p90 ms | throughput b=32 sent/s (min–max) | × PyTorch throughput "
             "| × PyTorch latency |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lo, hi = r["throughput_range"]
        lines.append(f"| {r['backend']} | {r['latency_ms_median']:.0f} | {r['latency_ms_p90']:.0f} | "
                     f"{r['throughput_sent_s']:.2f} ({lo:.2f}–{hi:.2f}) | **{r['throughput_x']:.2f}×** | "
                     f"{r['latency_x']:.2f}× |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--latency-sentences", type=int, default=12)
    p.add_argument("--throughput-sentences", type=int, default=96)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}),
                   help="intra-op threads per backend; one setting per value (default: 1 and all cores)")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4],
                   help="beam sizes; 4 is `bilingual evaluate`'s default and CTranslate2's benchmark setting")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per setting (medians reported)")
    p.add_argument("--optimum-default-int8", action="store_true",
                   help="also measure ORTQuantizer's default int8 (every MatMul quantized, no pre-processing)")
    p.add_argument("--model", type=Path, help="use this model folder (with onnx/, onnx-int8/, ctranslate2/) instead")
    p.add_argument("--json", type=Path, help="write results here")
    args = p.parse_args(argv)

    lines = [l.strip() for l in NTREX_EN.read_text(encoding="utf-8").splitlines() if l.strip()]
    latency_texts = lines[:args.latency_sentences]
    throughput_texts = lines[100:100 + args.throughput_sentences]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        setup = {}
        model_dir = args.model
        if model_dir is None:
            t = time.perf_counter()
            model_dir = build_model(Path(tmp) / "small", args.d_model, args.layers, args.vocab)
            setup["build model"] = time.perf_counter() - t
            setup.update(make_artifacts(model_dir))
        backends = BACKENDS
        if args.optimum_default_int8:
            if not (model_dir / OPTIMUM_DEFAULT[2] / "encoder_model.onnx").exists():
                make_optimum_default_int8(model_dir)
            backends = BACKENDS[:3] + (OPTIMUM_DEFAULT,) + BACKENDS[3:]
        from transformers import AutoModelForSeq2SeqLM

        model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
        params, vocab_size = sum(p.numel() for p in model.parameters()), model.config.vocab_size
        del model
        settings = []
        for threads in args.threads:
            for beams in args.beams:
                rows = measure_setting(model_dir, threads, beams, args.rounds, latency_texts, throughput_texts,
                                       args.new_tokens, backends)
                settings.append({"threads": threads, "beams": beams, "rows": rows, "load": os.getloadavg()})
                print(f"\n{threads} thread(s), beam {beams}:\n{table(rows)}", flush=True)
    result = {"model": {"d_model": args.d_model, "layers": args.layers, "vocab": vocab_size, "parameters": params,
                        "weights": "random" if args.model is None else str(args.model)},
              "new_tokens": args.new_tokens, "rounds": args.rounds, "latency_sentences": len(latency_texts),
              "throughput_sentences": len(throughput_texts), "setup_seconds": setup, "settings": settings,
              "load_before": load_before, "load_after": os.getloadavg(), "cpu_count": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{params / 1e6:.1f}M parameters, vocabulary {vocab_size}, {args.new_tokens} new tokens/sentence, "
          f"{args.rounds} interleaved rounds per setting; load average before {load_before}, after {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
