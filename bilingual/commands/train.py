"""`train`: train or fine-tune a bn<->en model with Seq2SeqTrainer; every Seq2SeqTrainingArguments field is a flag.

    bilingual train --config recipes/train/tiny.yaml --dataset_name data/processed/latest --max_steps 300
    accelerate launch scripts/train.py --config recipes/train/finetune-nllb-600m.yaml \\
        --model_name_or_path facebook/nllb-200-distilled-600M --dataset_name DIR_OR_HUB_ID --output_dir OUT
    accelerate launch --cpu --num_processes 2 scripts/train.py --config ...   # 2 CPU processes (gloo DDP)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Optional

_LAUNCHER_MARKERS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def requested_cpu_processes(environ=os.environ, parent_cmdline: Optional[str] = None) -> int:
    """Processes asked of `accelerate launch --cpu --num_processes N` (0: not that case).

    Accelerate's plain launcher, used for `--cpu`, starts ONE process whatever `--num_processes` says (it
    expects mpirun for more) but sets MASTER_ADDR when N > 1; the N is read from the launcher's command line."""
    if environ.get("ACCELERATE_USE_CPU", "").lower() not in ("true", "1") or "MASTER_ADDR" not in environ:
        return 0
    if any(k in environ for k in _LAUNCHER_MARKERS):
        return 0
    if parent_cmdline is None:
        try:
            with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
                parent_cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            parent_cmdline = ""
    match = re.search(r"--num[_-]processes[ =](\d+)", parent_cmdline)
    return int(match.group(1)) if match else 0


def _relaunch(n: int, argv: list[str]) -> int:
    """Run this command again as `n` CPU processes under torchrun (gloo DDP)."""
    import socket

    with socket.socket() as sock:   # a free port: the machine may run other distributed jobs on 29500
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_addr",
           "127.0.0.1", "--master_port", port, "-m", "bilingual.cli", "train", *argv]
    return subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def build_parser():
    from bilingual.modeling.args import ARGUMENT_CLASSES
    from transformers import HfArgumentParser

    p = HfArgumentParser(ARGUMENT_CLASSES, prog="bilingual train", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="training recipe (recipes/train/NAME.yaml); flags override its keys")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    n = requested_cpu_processes()
    if n > 1:
        return _relaunch(n, argv)
    from bilingual.console import set_quiet, summary

    set_quiet("--quiet" in argv)
    from bilingual.modeling.args import ConfigError, parse_args
    from bilingual.modeling.data import DataError

    try:
        cfg, _ = parse_args(argv, prog="bilingual train")
        from bilingual.modeling.train import train

        result = train(cfg)
    except (ConfigError, DataError, FileNotFoundError) as err:
        print(f"train: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if result:  # only the main process reports
        evals = [h for h in result["log_history"] if "eval_chrf" in h]
        summary("training", {
            "output_dir": result["output_dir"], "family": result["family"], "preset": result["preset"] or "-",
            "model_type": result["model_type"], "parameters": result["parameters"],
            "world size (processes)": result["world_size"], "steps": result["global_step"],
            "resumed_from": result["resumed_from"] or "-", "best_checkpoint": result["best_checkpoint"] or "-",
            "best dev chrF": result["best_metric"] if result["best_metric"] is not None else "-",
            "last dev chrF": evals[-1]["eval_chrf"] if evals else "-",
            "tokens/s (src+tgt, no padding)": result["tokens_per_second"] or 0.0,
            "runtime (s)": result["train_runtime"],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
