"""CPU training throughput: our `train()` (token-budget batches of similar length, dynamic padding, our
collator) against a plain `run_translation.py`-style setup on the same model, tokenizer and data, in
one run. Throughput is real (non-padding) source+target tokens per second of training time.

Baselines (both the default Seq2SeqTrainer: random sampler, fixed sentences per batch):
  plain-maxpad   run_translation.py --pad_to_max_length: every example padded to max length
  plain-dynamic  run_translation.py default: DataCollatorForSeq2Seq pads to the longest in the batch

    flock /tmp/bench.lock /tmp/venv0/bin/python benchmarks/bench_train.py --steps 60 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLES = REPO / "data" / "samples" / "parallel"


def corpus(name: str = "mixed") -> list[dict]:
    """mixed: Tatoeba (short) + OPUS-100 validation/test (mixed lengths), a realistic length spread;
    tatoeba: short sentences only (a narrow spread: the least padding for a plain setup to waste)."""
    from bilingual.modeling.data import read_tsv_pairs
    from bilingual.schema import pair_id

    rows = read_tsv_pairs(SAMPLES / "tatoeba-ben-eng.tsv")
    if name == "tatoeba":
        return rows
    for part in ("validation", "test"):
        en = (SAMPLES / "opus100" / f"opus100.en-bn-{part}.en").read_text(encoding="utf-8").splitlines()
        bn = (SAMPLES / "opus100" / f"opus100.en-bn-{part}.bn").read_text(encoding="utf-8").splitlines()
        rows += [{"id": pair_id(b, e), "bn": b.strip(), "en": e.strip()} for b, e in zip(bn, en)
                 if b.strip() and e.strip()]
    return rows


class CountingCollator:
    """Wraps a collator and counts real tokens of every batch it builds (same cost for any setup)."""

    def __init__(self, inner, pad_id):
        self.inner, self.pad_id, self.tokens, self.sentences, self.batches = inner, pad_id, 0, 0, 0

    def __call__(self, features):
        batch = self.inner(features)
        self.tokens += int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
        self.sentences += batch["input_ids"].shape[0]
        self.batches += 1
        return batch


def run_plain(ds_dir, tok_dir, out, steps, batch_size, max_len, pad_to_max, threads, seed=42) -> dict:
    """A run_translation.py-style run: tokenize (optionally pad to max), default Seq2SeqTrainer."""
    import torch
    from transformers import (AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                              set_seed)

    from bilingual.modeling.data import load_splits
    from bilingual.modeling.model import HFTransformerModel

    torch.set_num_threads(threads)
    set_seed(seed)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    hf = HFTransformerModel.from_preset("tiny", tok, seed=seed)
    train = load_splits(ds_dir, ("train",))["train"]
    padding = "max_length" if pad_to_max else False

    def preprocess(batch):
        # both directions, target tag in front of the source (as our run does)
        srcs, tgts = [], []
        for s, t in (("bn", "en"), ("en", "bn")):
            srcs += [f">>{t}<< {x}" for x in batch[s]]
            tgts += batch[t]
        enc = tok(srcs, max_length=max_len, padding=padding, truncation=True)
        labels = tok(text_target=tgts, max_length=max_len, padding=padding, truncation=True)["input_ids"]
        if pad_to_max:
            labels = [[(i if i != tok.pad_token_id else -100) for i in lab] for lab in labels]
        enc["labels"] = labels
        return enc

    ds = train.map(preprocess, batched=True, remove_columns=train.column_names, keep_in_memory=True)
    # DataCollatorForSeq2Seq for both: with pre-padded examples it only adds decoder_input_ids
    # (needed once the label smoother takes the labels away).
    inner = DataCollatorForSeq2Seq(tok, model=hf.model, label_pad_token_id=-100)
    collator = CountingCollator(inner, tok.pad_token_id)
    args = Seq2SeqTrainingArguments(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch_size,
                                    learning_rate=1e-3, warmup_steps=0, label_smoothing_factor=0.1,
                                    logging_steps=max(1, steps // 4), save_strategy="no", eval_strategy="no",
                                    report_to=[], seed=seed, use_cpu=True, disable_tqdm=True)
    trainer = Seq2SeqTrainer(model=hf.model, args=args, train_dataset=ds, data_collator=collator,
                             processing_class=tok)
    m = trainer.train().metrics
    return {"tokens": collator.tokens, "seconds": m["train_runtime"], "tokens_per_second": collator.tokens / m["train_runtime"],
            "sentences_per_batch": collator.sentences / max(1, collator.batches), "final_loss": m["train_loss"]}


def run_ours(ds_dir, tok_dir, out, steps, batch_size, max_tokens, max_len, threads, seed=42) -> dict:
    from bilingual.modeling.train import train

    cfg = {"model": {"preset": "tiny", "tokenizer": str(tok_dir)},
           "data": {"dataset_dir": str(ds_dir), "batching": "token_budget", "max_tokens": max_tokens,
                    "batch_size": batch_size, "max_source_length": max_len, "max_target_length": max_len,
                    "max_eval_samples": 8},
           "training": {"output_dir": str(out), "max_steps": steps, "learning_rate": 1e-3, "warmup_steps": 0,
                        "lr_scheduler_type": "linear", "logging_steps": max(1, steps // 4),
                        "eval_steps": 10 * steps, "save_steps": 10 * steps, "report_to": [], "cpu_threads": threads,
                        "overwrite_output_dir": True, "resume": "never", "early_stopping_patience": None}}
    r = train(cfg)
    return {"tokens": r["tokens"], "seconds": r["train_runtime"], "tokens_per_second": r["tokens_per_second"],
            "final_loss": r["log_history"][-1].get("train_loss"),
            "sentences_per_batch": r["hyperparameters"]["mean_sentences_per_batch"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=32, help="sentences per batch (baselines; cap for ours)")
    p.add_argument("--max_tokens", type=int, default=4096, help="our padded-token budget per batch")
    p.add_argument("--max_len", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch threads for every setup (same for all)")
    p.add_argument("--data", choices=["mixed", "tatoeba"], default="mixed")
    p.add_argument("--json", help="write results here")
    args = p.parse_args(argv)
    os.environ.setdefault("BILINGUAL_QUIET", "1")

    from bilingual.console import summary
    from bilingual.modeling.data import write_splits
    from bilingual.modeling.tokenizer import train_tokenizer

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        rows = corpus(args.data)
        write_splits(work / "ds", {"train": rows, "validation": rows[:64]})
        train_tokenizer([t for r in rows for t in (r["bn"], r["en"])], work / "tok", vocab_size=4000)
        load = os.getloadavg()
        results: dict[str, list] = {"ours": [], "plain-dynamic": [], "plain-maxpad": []}
        for rep in range(args.repeats):   # interleaved so machine load hits all setups alike
            results["plain-maxpad"].append(run_plain(work / "ds", work / "tok", work / f"pm{rep}", args.steps,
                                                     args.batch_size, args.max_len, True, args.threads))
            results["plain-dynamic"].append(run_plain(work / "ds", work / "tok", work / f"pd{rep}", args.steps,
                                                      args.batch_size, args.max_len, False, args.threads))
            results["ours"].append(run_ours(work / "ds", work / "tok", work / f"o{rep}", args.steps, args.batch_size,
                                            args.max_tokens, args.max_len, args.threads))
        tps = {k: statistics.median(r["tokens_per_second"] for r in v) for k, v in results.items()}
        report = {
            "data": args.data, "pairs": len(rows), "examples": 2 * len(rows), "steps": args.steps, "repeats": args.repeats,
            "batch_size": args.batch_size, "max_tokens": args.max_tokens, "threads": args.threads,
            "loadavg_before": load, "loadavg_after": os.getloadavg(), "tokens_per_second": tps,
            "speedup_vs_plain_dynamic": tps["ours"] / tps["plain-dynamic"],
            "speedup_vs_plain_maxpad": tps["ours"] / tps["plain-maxpad"], "runs": results,
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        }
        summary("training throughput (real src+tgt tokens/s, CPU)",
                [{"setup": k, "tokens/s": tps[k], "vs ours": tps["ours"] / tps[k],
                  "sentences/batch": statistics.mean(r.get("sentences_per_batch", args.batch_size) for r in v)}
                 for k, v in results.items()])
        print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
