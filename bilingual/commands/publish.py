"""`publish`: push the dataset folder (Parquet + card), the tokenizer and the model (+ onnx/) to the Hub, or write
the exact upload tree with --dry-run DIR. The token comes from HF_TOKEN or `hf auth login`, never a flag."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from bilingual import __version__, console
from bilingual.layout import DEFAULT_DATASET_REPO, DEFAULT_MODEL_REPO, DEFAULT_PUBLISH_RECIPE, ONNX_DIR
from bilingual.publishing import hub

DEFAULT_CONFIG = DEFAULT_PUBLISH_RECIPE
DEFAULT_VERSION = f"v{__version__}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bilingual publish", description=__doc__)
    p.add_argument("--dataset", type=Path, help="processed dataset folder (Parquet shards + README.md card)")
    p.add_argument("--model", type=Path, help="model folder (weights, config, tokenizer, README.md, onnx/)")
    p.add_argument("--config", type=Path, default=None, help=f"YAML with repo names (default {DEFAULT_CONFIG.name})")
    p.add_argument("--dataset-repo", help="dataset repo id (overrides the config)")
    p.add_argument("--model-repo", help="model repo id (overrides the config)")
    p.add_argument("--version", help=f"release tag (default: the config's 'version', else {DEFAULT_VERSION})")
    p.add_argument("--dry-run", type=Path, metavar="DIR", help="write DIR/dataset and DIR/model instead of uploading")
    onnx = p.add_mutually_exclusive_group()
    onnx.add_argument("--onnx", dest="onnx", action="store_const", const=True, default=None,
                      help=f"require the {ONNX_DIR}/ export (default: publish it when the model folder has one)")
    onnx.add_argument("--no-onnx", dest="onnx", action="store_const", const=False,
                      help=f"do not publish the {ONNX_DIR}/ subfolder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def load_config(path: Path | None) -> dict:
    path = path or DEFAULT_CONFIG
    if not path.is_file():
        if path == DEFAULT_CONFIG:
            return {}
        raise hub.PublishError(f"config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise hub.PublishError(f"config {path}: not valid YAML ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise hub.PublishError(f"config {path}: expected a mapping of settings")
    unknown = set(data) - {"dataset_repo", "model_repo", "onnx", "private", "version"}
    if unknown:
        raise hub.PublishError(f"config {path}: unknown keys {', '.join(sorted(unknown))}")
    if data.get("onnx") not in (None, True, False):
        raise hub.PublishError(f"config {path}: onnx must be true (required), false (never) or null (when exported)")
    return data


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console.set_quiet(args.quiet)
    try:
        if args.dataset is None and args.model is None:
            raise hub.PublishError("nothing to publish: give --dataset DIR (a built dataset folder, e.g. RUN/dataset), "
                                   "--model DIR (a model folder with its card, e.g. RUN/model) or both")
        cfg = load_config(args.config)
        version = args.version or cfg.get("version") or DEFAULT_VERSION
        result = hub.publish(
            args.dataset, args.model,
            dataset_repo=args.dataset_repo or cfg.get("dataset_repo") or DEFAULT_DATASET_REPO,
            model_repo=args.model_repo or cfg.get("model_repo") or DEFAULT_MODEL_REPO,
            version=version, dry_run_dir=args.dry_run, onnx=args.onnx if args.onnx is not None else cfg.get("onnx"),
            private=cfg.get("private"), progress=console.progress)
    except hub.PublishError as err:
        print(f"bilingual publish: error: {err}", file=sys.stderr)
        return 2
    for warning in result.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if result["dry_run"]:
        rows = [{"artifact": a["name"], "repo": f"{a['repo_type']}:{a['repo_id']}", "files": a["files"],
                 "bytes": a["bytes"]} for a in result["plan"]]
        console.summary(f"publish dry run {version} -> {result['dir']}", rows)
    else:
        rows = [{"artifact": a["name"], "repo": f"{a['repo_type']}:{a['repo_id']}", "files": a["files"],
                 "bytes": a["bytes"], "commit": a["commit"][:12]} for a in result["artifacts"]]
        rows += [{"artifact": "tag", "repo": f"{t['repo_type']}:{t['repo_id']}", "files": "", "bytes": "",
                  "commit": t["tag"]} for t in result["tags"]]
        console.summary(f"published {version}", rows)
    return 0
