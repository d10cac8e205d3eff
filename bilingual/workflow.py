"""The whole job, stage by stage: sources → corpus → tokenizer → model → evaluation → ONNX → cards → publish.

Each stage is a call into the library; this module only sequences them, times them, records what
went in and out in `report.json` (written atomically after every stage) and skips stages that a
previous run into the same folder already finished, so an interrupted run resumes.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import console, storage

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO_ROOT / "recipes" / "pipeline" / "default.yaml"


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


class PipelineRecipe(_Strict):
    """`recipes/pipeline/*.yaml`: what the whole run reads and how far each stage goes."""

    corpora: list[CorpusSource]
    wikipedia: list[WikiSource] = Field(default_factory=list)
    wiki_links: Optional[str] = None
    filter_recipe: str
    eval_sets: list[str] = Field(default_factory=list)
    tokenizer_vocab_size: int = 4000
    train_config: str
    train_overrides: dict[str, Any] = Field(default_factory=dict)
    eval_max_samples: int = 200
    eval_num_beams: int = 4
    export_quantize: bool = False
    export_parity_samples: int = 64
    dataset_repo: str = "org/bilingual"
    model_repo: str = "org/bilingual-mt"


def resolve(path: str | Path) -> Path:
    """Recipe paths are relative to the repository root, so the default run works from any folder."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


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
              *(w.dump for w in recipe.wikipedia), *recipe.eval_sets] + ([recipe.wiki_links] if recipe.wiki_links else []):
        if not resolve(p).exists():
            raise FileNotFoundError(f"{path}: {p} does not exist")
    return recipe


@dataclass
class Run:
    """A run folder and its report; `stage()` runs one step unless it already finished."""

    out: Path
    report: dict = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path) -> "Run":
        out.mkdir(parents=True, exist_ok=True)
        path = out / "report.json"
        report = {}
        if path.exists():
            import json

            report = json.loads(path.read_text(encoding="utf-8"))
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
        storage.write_json(self.out / "report.json", self.report)


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
