"""`train`: run a training recipe (YAML) with Seq2SeqTrainer; works under `accelerate launch` too.

    python scripts/train.py --config recipes/train/tiny.yaml [--set training.max_steps=50 ...]
    accelerate launch --config_file accelerate_config.yaml scripts/train.py --config recipes/train/base.yaml
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual train", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="training recipe (recipes/train/NAME.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one recipe value (YAML syntax), e.g. training.max_steps=100; repeatable")
    p.add_argument("--dataset_dir", help="shortcut for --set data.dataset_dir=...")
    p.add_argument("--output_dir", help="shortcut for --set training.output_dir=...")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bilingual.console import set_quiet, summary

    set_quiet(args.quiet)
    from bilingual.modeling.data import DataError
    from bilingual.modeling.training import ConfigError, load_config, train

    overrides = list(args.overrides)
    if args.dataset_dir:
        overrides.append(f"data.dataset_dir={args.dataset_dir}")
    if args.output_dir:
        overrides.append(f"training.output_dir={args.output_dir}")
    try:
        cfg = load_config(args.config, overrides)
        result = train(cfg)
    except (ConfigError, DataError, FileNotFoundError) as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2
    if result:  # only the main process reports
        evals = [h for h in result["log_history"] if "eval_chrf" in h]
        summary("training", {
            "output_dir": result["output_dir"], "preset": result["preset"] or "-", "model_type": result["model_type"],
            "parameters": result["parameters"], "steps": result["global_step"],
            "resumed_from": result["resumed_from"] or "-", "best_checkpoint": result["best_checkpoint"] or "-",
            "best dev chrF": result["best_metric"] if result["best_metric"] is not None else "-",
            "last dev chrF": evals[-1]["eval_chrf"] if evals else "-",
            "tokens/s (src+tgt, no padding)": result["tokens_per_second"] or 0.0,
            "runtime (s)": result["train_runtime"],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
