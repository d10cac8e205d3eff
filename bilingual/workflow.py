"""The whole job, stage by stage: sources → corpus → tokenizer → model → evaluation → ONNX → cards → publish.

Each stage is a call into the library; this module only sequences them, times them, records what
went in and out in `report.json` (written atomically after every stage) and skips stages that a
previous run into the same folder already finished, so an interrupted run resumes. The settings a folder was
made with are kept in its report: rerunning into it with other settings is refused rather than mixing stages.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilingual import console, layout, storage
from bilingual.layout import (DATASET_DIR, DEFAULT_DATASET_CONFIG, DEFAULT_DATASET_REPO, DEFAULT_MODEL_REPO,
                              DEFAULT_PIPELINE_RECIPE, EVALUATION_DIR, MODEL_DIR, PUBLISH_DIR, REPORT_JSON,
                              TOKENIZER_DIR, TRAIN_DIR, WORK_DIR)

DEFAULT_RECIPE = DEFAULT_PIPELINE_RECIPE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorpusSource(_Strict):
    name: str
    kind: str  # tsv | tmx | aligned
    path: str
    en_path: Optional[str] = None  # aligned: the English file (path is the Bengali one)
    license: str


class WikiSource(_Strict):
    lang: str
    dump: str
    index: Optional[str] = None


class WebSite(_Strict):
    """A bilingual site mined for pairs: its bn and en halves, each a crawl snapshot folder or a source
    YAML (recipes/sources/*.yaml, crawled into the run first)."""

    name: str = "web-mined"
    bn: str
    en: str


class PipelineRecipe(_Strict):
    """`recipes/pipeline/*.yaml`: what the whole run reads and how far each stage goes."""

    corpora: list[CorpusSource]
    wikipedia: list[WikiSource] = Field(default_factory=list)
    wiki_links: Optional[str] = None
    wiki_min_score: float = 0.4  # mined pairs below this alignment score are not kept (precision first)
    web: list[WebSite] = Field(default_factory=list)  # bilingual sites: crawl snapshots or source YAMLs
    filter_recipe: str
    eval_sets: list[str] = Field(default_factory=list)
    tokenizer_vocab_size: int = 4000
    train_config: str
    train_overrides: dict[str, Any] = Field(default_factory=dict)
    eval_max_samples: int = 200
    eval_num_beams: int = 4
    export_quantize: bool = False
    export_ctranslate2: bool = False  # also convert to CTranslate2 (int8), parity-checked, published beside onnx/
    export_parity_samples: int = 64
    dataset_repo: str = DEFAULT_DATASET_REPO
    model_repo: str = DEFAULT_MODEL_REPO


def resolve(path: str | Path) -> Path:
    """Recipe paths are relative to the repository root, so the default run works from any folder."""
    path = Path(path)
    return path if path.is_absolute() else layout.bundled_path(path)


def resolve_eval_set(spec: str) -> str:
    """An evaluation set is a file, or `BN_FILE,EN_FILE` for line-aligned pairs such as NTREX-128."""
    return ",".join(str(resolve(part.strip())) for part in spec.split(","))


def load_recipe(path: str | Path) -> PipelineRecipe:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        recipe = PipelineRecipe.model_validate(raw)
    except FileNotFoundError:
        raise FileNotFoundError(f"pipeline recipe {path} does not exist") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    for p in [recipe.filter_recipe, recipe.train_config, *(c.path for c in recipe.corpora),
              *(w.dump for w in recipe.wikipedia), *(f for e in recipe.eval_sets for f in e.split(","))] + ([recipe.wiki_links] if recipe.wiki_links else []):
        if not resolve(p).exists():
            hint = (" (the bundled samples come with a checkout of the repository, not with the installed package: "
                    "run from a checkout, or name your own files in a copy of the recipe)"
                    if Path(p).parts[:2] == ("data", "samples") else "")
            raise FileNotFoundError(f"{path}: {p} does not exist{hint}")
    return recipe


class RunSettingsChanged(ValueError):
    """A run folder made with other settings: its finished stages would not match this run."""


def run_settings(recipe: PipelineRecipe, train_overrides: Optional[dict] = None) -> dict:
    """What the finished stages of a run folder depend on: the recipe's values, the contents of the filter
    recipe and training config it names (they are edited in place), and the command-line overrides."""
    def sha256(path: str) -> str:
        return hashlib.sha256(resolve(path).read_bytes()).hexdigest()

    return {"recipe": recipe.model_dump(mode="json"), "filter_recipe_sha256": sha256(recipe.filter_recipe),
            "train_config_sha256": sha256(recipe.train_config), "train_overrides": dict(train_overrides or {})}


def _changed(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key == "recipe":
            keys += _changed(a, b, f"{key}.")
        elif a != b:
            keys.append(prefix + key)
    return keys


@dataclass
class Run:
    """A run folder and its report; `stage()` runs one step unless it already finished."""

    out: Path
    report: dict = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path, settings: Optional[dict] = None) -> "Run":
        """Open (or start) the run folder `out`; with `settings`, refuse a folder made with other ones."""
        out.mkdir(parents=True, exist_ok=True)
        path = out / REPORT_JSON
        report = {}
        if path.exists():
            import json

            report = json.loads(path.read_text(encoding="utf-8"))
        if settings is not None and report.get("settings") not in (None, settings):
            changed = ", ".join(_changed(report["settings"], settings))
            raise RunSettingsChanged(
                f"{out} holds a run made with other settings (changed: {changed}), so its finished stages would "
                f"not match: run into a new --output-dir, or delete {path} to redo every stage there")
        if settings is not None:
            report["settings"] = settings
        report.setdefault("run_dir", str(out))
        report.setdefault("started_at", datetime.now(timezone.utc).isoformat())
        report.setdefault("stages", [])
        report["versions"] = versions()
        return cls(out, report)

    def done(self, name: str) -> bool:
        return any(s["name"] == name and s.get("status") == "ok" for s in self.report["stages"])

    def stage(self, name: str, fn: Callable[[], dict], records_in: Optional[int] = None,
              out_key: Optional[str] = None) -> dict:
        """Run `fn`, which returns this stage's section of the report; record timing and counts."""
        if self.done(name):
            console.console.print(f"[dim]· {name}: already done in {self.out}, skipped[/dim]")
            return self.report.get(out_key or name, {})
        console.console.print(f"[bold]▶ {name}[/bold]")
        start = time.perf_counter()
        section = fn() or {}
        seconds = time.perf_counter() - start
        self.report[out_key or name] = section
        self.report["stages"] = [s for s in self.report["stages"] if s["name"] != name]
        self.report["stages"].append({"name": name, "status": "ok", "seconds": round(seconds, 3),
                                      "records_in": records_in, "records_out": section.get("records_out")})
        self.save()
        return section

    def save(self) -> None:
        storage.write_json(self.out / REPORT_JSON, self.report)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("bilingual", "transformers", "tokenizers", "datasets", "optimum", "optimum-onnx", "onnxruntime",
                 "huggingface_hub", "accelerate", "torch", "sacrebleu"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def run_pipeline(out: Path, recipe_path: Path = DEFAULT_RECIPE, train_overrides: Optional[dict] = None,
                 day: Optional[str] = None, publish: bool = True) -> dict:
    """Run every stage into `out`; returns the report (also `out/report.json` and `out/report.html`)."""
    recipe = load_recipe(recipe_path)
    run = Run.open(Path(out), run_settings(recipe, train_overrides))
    raw_root = run.out / WORK_DIR
    dataset_dir, model_dir = run.out / DATASET_DIR, run.out / MODEL_DIR
    day = day or datetime.now(timezone.utc).date().isoformat()
    snapshots: list[Path] = []

    def collect() -> dict:
        from bilingual.sources.corpora import readers as corpora

        rows = []
        for c in recipe.corpora:
            snap = storage.snapshot_dir(raw_root, c.name, day)
            path = resolve(c.path)
            if c.kind == "tsv":
                reader = corpora.read_tsv(path, source=c.name, license=c.license)
            elif c.kind == "tmx":
                reader = corpora.read_tmx(path, source=c.name, license=c.license)
            elif c.kind == "aligned":
                reader = corpora.read_aligned(path, resolve(c.en_path), source=c.name, license=c.license)
            else:
                raise ValueError(f"{recipe_path}: corpus {c.name}: unknown kind {c.kind!r} (tsv, tmx, aligned)")
            counts = corpora.snapshot_corpus(reader, snap, c.name, path, c.license)
            rows.append({**counts, "license": c.license, "snapshot": str(snap)})
        rows += collect_wikipedia(recipe, raw_root, day)
        rows += collect_web(recipe, raw_root, day)
        return {"sources": rows, "records_out": sum(r.get("kept", 0) for r in rows)}

    section = run.stage("collect", collect)
    run.report["sources"] = section["sources"]
    snapshots = [Path(r["snapshot"]) for r in section["sources"] if r.get("kind", "pairs") == "pairs"]

    def build() -> dict:
        from bilingual.corpus.build import build_corpus

        stats = build_corpus(snapshots, resolve(recipe.filter_recipe), dataset_dir,
                             eval_sets=[resolve_eval_set(e) for e in recipe.eval_sets] or None)
        stats["dataset_dir"] = str(dataset_dir)
        stats["records_out"] = stats.get("kept")
        return stats

    corpus = run.stage("build", build, records_in=section["records_out"], out_key="corpus")

    def tokenizer() -> dict:
        from bilingual.modeling.tokenizer import dataset_parquet_files, train_tokenizer_from_parquet

        tok = train_tokenizer_from_parquet(dataset_parquet_files(dataset_dir, "train"),
                                           run.out / TOKENIZER_DIR, vocab_size=recipe.tokenizer_vocab_size)
        return {"vocab_size": len(tok), "path": str(run.out / TOKENIZER_DIR), "type": "unigram"}

    run.stage("tokenizer", tokenizer, records_in=corpus.get("splits", {}).get("train"))

    def train() -> dict:
        from bilingual.modeling.train import load_config, train as train_model

        overrides = {"data.dataset_dir": str(dataset_dir), "model.tokenizer": str(run.out / TOKENIZER_DIR),
                     "training.output_dir": str(run.out / TRAIN_DIR), **recipe.train_overrides,
                     **(train_overrides or {})}
        cfg = load_config(resolve(recipe.train_config), [f"{k}={v}" for k, v in overrides.items()])
        result = train_model(cfg)
        publish_model_dir(Path(result["output_dir"]), model_dir)
        return {**result, "model_dir": str(model_dir)}

    run.stage("train", train, records_in=corpus.get("splits", {}).get("train"), out_key="training")

    def evaluate() -> dict:
        from bilingual.evaluation import evaluate_model, load_pairs

        pairs = load_pairs(dataset=dataset_dir, split="test", limit=recipe.eval_max_samples)
        result = evaluate_model(model_dir, pairs, num_beams=recipe.eval_num_beams,
                                output_dir=run.out / EVALUATION_DIR)
        for direction in result.values():
            if isinstance(direction, dict):  # the published dataset's own test split: the card's model-index says so
                direction.update(test_set="held-out test split of the bundled corpora", split="test",
                                 test_set_id=recipe.dataset_repo, dataset_config=DEFAULT_DATASET_CONFIG)
        return result

    run.stage("evaluate", evaluate, out_key="evaluation")

    def export() -> dict:
        from bilingual.inference.export import export_all

        return export_all(model_dir, quantize=recipe.export_quantize,
                          ctranslate2=recipe.export_ctranslate2,
                          n_sample=recipe.export_parity_samples)

    run.stage("export", export, out_key="export")

    def cards() -> dict:
        from bilingual.publishing.cards import write_model_card

        path = write_model_card(model_dir, run.report, dataset_repo=recipe.dataset_repo,
                                model_repo=recipe.model_repo)
        return {"model_card": str(path), "dataset_card": str(dataset_dir / layout.CARD_FILE)}

    run.stage("card", cards)

    if publish:
        def publish_stage() -> dict:
            from bilingual.publishing.hub import publish as hub_publish

            result = hub_publish(dataset_dir, model_dir, recipe.dataset_repo, recipe.model_repo,
                                 version=f"v{day.replace('-', '')}", dry_run_dir=run.out / PUBLISH_DIR)
            return {"dry_run_dir": str(run.out / PUBLISH_DIR), "warnings": result.get("warnings", [])}

        run.stage("publish", publish_stage)

    run.report["finished_at"] = datetime.now(timezone.utc).isoformat()
    run.save()
    from bilingual.reporting.html import write_report

    write_report(run.out)
    return run.report


def collect_wikipedia(recipe: PipelineRecipe, raw_root: Path, day: str) -> list[dict]:
    """Wikipedia dumps → Document snapshots, then linked articles → mined SentencePairs."""
    if not recipe.wikipedia:
        return []
    from bilingual.mining.wikipedia import mine_snapshots
    from bilingual.sources.wikipedia.dump import collect_dump

    rows, snaps = [], {}
    for w in recipe.wikipedia:
        summary = collect_dump(resolve(w.dump), w.lang, raw_root, index=resolve(w.index) if w.index else None, day=day)
        snaps[w.lang] = storage.snapshot_dir(raw_root, f"wikipedia-{w.lang}", day)
        rows.append({"source": f"wikipedia-{w.lang}", "kind": "documents", "license": "CC BY-SA 4.0",
                     "snapshot": str(snaps[w.lang]), **_counts(summary)})
    if recipe.wiki_links and {"bn", "en"} <= snaps.keys():
        summary = mine_snapshots(snaps["bn"], snaps["en"], resolve(recipe.wiki_links), raw_root, day=day,
                                 threshold=recipe.wiki_min_score, min_score=recipe.wiki_min_score,
                                 cache_dir=raw_root / "cache")
        rows.append({"source": "wikipedia-mined", "kind": "pairs", "license": "CC BY-SA 4.0",
                     "snapshot": str(storage.snapshot_dir(raw_root, "wikipedia-mined", day)), **_counts(summary)})
    return rows


def collect_web(recipe: PipelineRecipe, raw_root: Path, day: str) -> list[dict]:
    """Each bilingual site: crawl its source YAMLs (a snapshot folder is used as it is), then mine pairs."""
    from bilingual.mining.web import mine_web
    from bilingual.sources.web.crawl import crawl

    rows = []
    for site in recipe.web:
        snaps = {}
        for lang in ("bn", "en"):
            given = resolve(getattr(site, lang))
            if given.suffix in (".yaml", ".yml"):
                summary = crawl(given, raw_root, day=day)
                snaps[lang] = Path(summary["snapshot_dir"])
                rows.append({"source": summary["source"], "kind": "documents", "license": summary["license"],
                             "snapshot": str(snaps[lang]),
                             **_counts(summary)})
            else:
                snaps[lang] = given
        summary = mine_web(snaps["bn"], snaps["en"], raw_root, day=day, name=site.name, cache_dir=raw_root / "cache")
        rows.append({"source": site.name, "kind": "pairs", "license": summary["license"], "snapshot": summary["snapshot"],
                     **_counts(summary)})
    return rows


def _counts(summary: dict) -> dict:
    keep = ("read", "kept", "quarantined", "status", "pages", "documents", "pairs", "articles")
    return {k: v for k, v in summary.items() if k in keep and not isinstance(v, (dict, list))}


def publish_model_dir(trained: Path, model_dir: Path) -> None:
    """Copy the final (best) model + tokenizer out of the training folder, without checkpoints or logs."""
    import shutil

    staging = model_dir.with_name(model_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(trained, staging, ignore=shutil.ignore_patterns(layout.CHECKPOINT_GLOB, "runs", "*.tmp",
                                                                    "training_args.bin"))
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
