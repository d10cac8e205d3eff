"""GPU training throughput and model FLOPs utilisation (MFU) of the `base` preset (Marian-base,
6+6 layers, d_model 512) in bf16: our `train()` (token-budget batches, pad to a multiple of 8, our
collator) against a plain `run_translation.py`-style Seq2SeqTrainer setup (64 sentences a batch,
random order, DataCollatorForSeq2Seq), same model, tokenizer and data, in one run.

MFU = model FLOPs per second / the chip's dense bf16 peak. Model FLOPs are counted per layer from the
real (non-padding) tokens of every batch: 6 x (encoder params x source tokens + decoder and output
projection params x target tokens) + attention score/value products (fwd+bwd = 3 x 4 x len x d per
token and layer; cross-attention against the source length). Padding work is not counted: it is waste.

    flock /tmp/bench.lock python benchmarks/bench_train_gpu.py --steps 300 --warmup 30
    python benchmarks/bench_train_gpu.py --device cpu --preset tiny --steps 6 --warmup 2   # smoke test on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def peak_tflops(name: str, override=None) -> float | None:
    if override:
        return override
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


class FlopCounter:
    """Counts model FLOPs of real tokens batch by batch (wraps the collator; no GPU work)."""

    def __init__(self, inner, config, n_enc: int, n_dec: int, n_out: int):
        self.inner, self.c = inner, config
        self.n_enc, self.n_dec, self.n_out = n_enc, n_dec, n_out
        self.flops = 0.0
        self.tokens = 0

    def __call__(self, features):
        batch = self.inner(features)
        d, le, ld = self.c.d_model, self.c.encoder_layers, self.c.decoder_layers
        src = batch["attention_mask"].sum(1).tolist()
        tgt = (batch["labels"] != -100).sum(1).tolist()
        for s, t in zip(src, tgt):
            linear = 6 * (self.n_enc * s + (self.n_dec + self.n_out) * t)
            attn = 3 * 4 * d * (le * s * s + ld * (t * t + t * s))
            self.flops += linear + attn
            self.tokens += s + t
        return batch


class StepTimer:
    """Wall time between the end of step `warmup` and the last step (CUDA synchronised)."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        self.warmup, self.t0, self.t1 = warmup, None, None
        self.counter = None
        self.__class__ = type("StepTimerCallback", (StepTimer, TrainerCallback), {})

    def _sync(self):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.warmup:
            self._sync()
            self.t0 = time.perf_counter()
        if state.global_step == state.max_steps:
            self._sync()
            self.t1 = time.perf_counter()


def param_split(model):
    enc = sum(p.numel() for n, p in model.model.encoder.named_parameters() if "embed" not in n)
    dec = sum(p.numel() for n, p in model.model.decoder.named_parameters() if "embed" not in n)
    out = model.get_output_embeddings().weight.numel()
    return enc, dec, out


def measure(trainer_fn, counter_holder, timer, steps, warmup, peak):
    trainer_fn()
    c = counter_holder["counter"]
    seconds = timer.t1 - timer.t0
    # The collator may run ahead of the step (prefetch): the timed window's share is taken pro rata.
    frac = (steps - warmup) / steps
    flops, tokens = c.flops * frac, c.tokens * frac
    tflops = flops / seconds / 1e12
    return {"tokens_per_second": tokens / seconds, "model_tflops": tflops,
            "mfu": (tflops / peak) if peak else None, "seconds": seconds, "steps": steps - warmup}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="base")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--plain_batch_size", type=int, default=64)
    p.add_argument("--max_tokens", type=int, default=16384, help="our padded-token budget per batch")
    p.add_argument("--vocab_size", type=int, default=32000)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--peak_tflops", type=float, help="dense bf16 peak of the chip (default: from its name)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    os.environ.setdefault("BILINGUAL_QUIET", "1")

    import torch
    from transformers import (AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                              set_seed)

    from bench_train import corpus
    from bilingual.console import summary
    from bilingual.modeling import data as data_mod
    from bilingual.modeling import train as training_mod
    from bilingual.modeling.model import HFTransformerModel
    from bilingual.modeling.tokenizer import train_tokenizer

    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        print("bench_train_gpu: no CUDA device (use --device cpu for a smoke test)", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0) if on_gpu else "cpu"
    peak = peak_tflops(name, args.peak_tflops) if on_gpu else None
    precision = "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"
    work = Path(tempfile.mkdtemp(prefix="bench-train-gpu-"))
    try:
        rows = corpus()
        data_mod.write_splits(work / "ds", {"train": rows, "validation": rows[:64]})
        tok = train_tokenizer([t for r in rows for t in (r["bn"], r["en"])], work / "tok", vocab_size=args.vocab_size)
        results = {}

        # --- plain run_translation.py-style -------------------------------------------------------
        set_seed(42)
        hf = HFTransformerModel.from_preset(args.preset, tok, seed=42)
        n_params = hf.num_parameters()
        split = param_split(hf.model)
        train_split = data_mod.load_splits(work / "ds", ("train",))["train"]
        ds = data_mod.tokenize_split(train_split, hf, ["bn-en", "en-bn"], 128, 128).remove_columns(
            ["length", "direction"])
        holder = {}
        counter = FlopCounter(DataCollatorForSeq2Seq(tok, model=hf.model, label_pad_token_id=-100), hf.model.config,
                              *split)
        holder["counter"] = counter
        timer = StepTimer(args.warmup)
        timer.counter = counter
        targs = Seq2SeqTrainingArguments(output_dir=str(work / "plain"), max_steps=args.steps,
                                         per_device_train_batch_size=args.plain_batch_size, learning_rate=5e-4,
                                         warmup_steps=0, label_smoothing_factor=0.1, logging_steps=50,
                                         save_strategy="no", eval_strategy="no", report_to=[], bf16=precision == "bf16",
                                         use_cpu=not on_gpu, disable_tqdm=True)
        trainer = Seq2SeqTrainer(model=hf.model, args=targs, train_dataset=ds, data_collator=counter,
                                 processing_class=tok, callbacks=[timer])
        results["plain"] = measure(trainer.train, holder, timer, args.steps, args.warmup, peak)
        del trainer, hf
        if on_gpu:
            torch.cuda.empty_cache()

        # --- ours ----------------------------------------------------------------------------------
        cfg = {"model": {"preset": args.preset, "tokenizer": str(work / "tok")},
               "data": {"dataset_dir": str(work / "ds"), "batching": "token_budget", "max_tokens": args.max_tokens,
                        "batch_size": 4096, "max_eval_samples": 8},
               "training": {"output_dir": str(work / "ours"), "max_steps": args.steps, "learning_rate": 5e-4,
                            "warmup_steps": 0, "lr_scheduler_type": "linear", "logging_steps": 50,
                            "eval_steps": 10 * args.steps, "save_steps": 10 * args.steps, "report_to": [],
                            "mixed_precision": precision, "dataloader_num_workers": 0,
                            "early_stopping_patience": None, "overwrite_output_dir": True, "resume": "never"}}
        holder2 = {}
        timer2 = StepTimer(args.warmup)

        def wrap(collator):
            c = FlopCounter(collator, hf_cfg, *split)
            holder2["counter"] = timer2.counter = c
            return c

        hf_cfg = HFTransformerModel.from_preset(args.preset, AutoTokenizer.from_pretrained(work / "tok")).model.config
        results["ours"] = measure(lambda: training_mod.train(cfg, callbacks=[timer2], wrap_collator=wrap), holder2,
                                  timer2, args.steps, args.warmup, peak)

        report = {"device": name, "peak_bf16_tflops": peak, "precision": precision, "preset": args.preset,
                  "parameters": n_params, "vocab_size": len(tok), "steps": args.steps, "warmup": args.warmup,
                  "results": results,
                  "speedup": results["ours"]["tokens_per_second"] / results["plain"]["tokens_per_second"]}
        summary(f"training throughput on {name} ({precision})",
                [{"setup": k, "tokens/s": v["tokens_per_second"], "model TFLOP/s": v["model_tflops"],
                  "MFU": v["mfu"] if v["mfu"] is not None else "-"} for k, v in results.items()])
        print(json.dumps(report, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
