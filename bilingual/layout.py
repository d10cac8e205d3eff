"""The one owner of names that cross modules: where bundled files live, artifact folders, file patterns,
marker files and Hub repo ids.

Every module that needs one of these imports it from here, so a rename happens in one place. The run folder
that `bilingual run` writes (and the step-by-step commands read) is:

    RUN/report.json, RUN/report.html        what each stage did (REPORT_JSON, REPORT_HTML)
    RUN/dataset/                            DATASET_DIR: data/<split>-*.parquet, rejects/, stats.json, README.md
    RUN/tokenizer/  RUN/train/              TOKENIZER_DIR, TRAIN_DIR (checkpoints, train_results.json)
    RUN/model/                              MODEL_DIR: weights, tokenizer, README.md, onnx/, onnx-int8/, ctranslate2/
    RUN/evaluation/evaluation.json          EVALUATION_DIR / EVALUATION_JSON
    RUN/publish/{dataset,model}/            PUBLISH_DIR: exactly what `bilingual publish` uploads
"""

from __future__ import annotations

from pathlib import Path

# ------------------------------------------------------------------ bundled files (repository or package data)
PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


def _bundled(name: str) -> Path:
    """A bundled folder: the repository's own (editable install, checkout) or the copy shipped inside the
    package (`pip install .` puts recipes/ and model_cards/ under bilingual/_data/)."""
    repo = REPO_ROOT / name
    return repo if repo.is_dir() else PACKAGE_ROOT / "_data" / name


def bundled_path(relative) -> Path:
    """A path a recipe names relative to the repository (`recipes/filters/default.yaml`): the repository's file,
    else the copy shipped in the package, so recipes that name recipes work after `pip install .` too."""
    repo = REPO_ROOT / relative
    shipped = PACKAGE_ROOT / "_data" / relative
    return shipped if not repo.exists() and shipped.exists() else repo


SAMPLES = REPO_ROOT / "data" / "samples"
PARALLEL_SAMPLES = SAMPLES / "parallel"
RECIPES = _bundled("recipes")
MODEL_CARD_TEMPLATES = _bundled("model_cards")
MODEL_CARD_TEMPLATE = MODEL_CARD_TEMPLATES / "model_card.md.j2"
DATASET_CARD_TEMPLATE = MODEL_CARD_TEMPLATES / "dataset_card.md.j2"
DEFAULT_PIPELINE_RECIPE = RECIPES / "pipeline" / "default.yaml"
DEFAULT_PUBLISH_RECIPE = RECIPES / "pipeline" / "publish.yaml"
DEFAULT_FILTER_RECIPE = RECIPES / "filters" / "default.yaml"

# ------------------------------------------------------------------ a run folder
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
WORK_DIR = "work"  # raw snapshots of this run
DATASET_DIR = "dataset"
TOKENIZER_DIR = "tokenizer"
TRAIN_DIR = "train"
MODEL_DIR = "model"
EVALUATION_DIR = "evaluation"
PUBLISH_DIR = "publish"

# ------------------------------------------------------------------ a dataset folder
DATA_DIR = "data"  # data/<split>-NNNNN-of-NNNNN.parquet
SPLITS = ("train", "validation", "test")
REJECTS_DIR = "rejects"  # rejects/rejects-NNNNN.parquet: every dropped row with reject_step, reject_reason
REJECTS_SHARD = "rejects"
REJECTS_GLOB = f"{REJECTS_SHARD}-*.parquet"
REJECT_STEP_COLUMN = "reject_step"  # in rejects shards: the step that dropped the row ...
REJECT_REASON_COLUMN = "reject_reason"  # ... and why
DOCUMENTS_DIR = "documents"  # documents/<lang>/train-*.parquet
STATS_JSON = "stats.json"
CARD_FILE = "README.md"  # dataset and model cards: the Hub's README.md with YAML metadata
EVAL_OVERLAP_STEP = "eval_overlap"  # rejects of this step overlap test sets: never published


def split_glob(split: str) -> str:
    return f"{split}-*.parquet"


# ------------------------------------------------------------------ a raw snapshot (RUN/work/raw/<day>/<source>/)
PAIRS_SHARD = "pairs"  # pairs-NNNNN.parquet: SentencePair rows (corpora, mined Wikipedia and web pairs)
PAIRS_GLOB = f"{PAIRS_SHARD}-*.parquet"
DOCUMENTS_SHARD = "documents"  # documents-NNNNN.parquet: Document rows (Wikipedia dumps, crawls)
DOCUMENTS_GLOB = f"{DOCUMENTS_SHARD}-*.parquet"
KEPT_GLOB = "kept-*.parquet"  # `bilingual filter`'s output folder: kept-*.parquet, rejects/, stats.json


# ------------------------------------------------------------------ a model folder
ONNX_DIR = "onnx"
ONNX_INT8_DIR = "onnx-int8"
CTRANSLATE2_DIR = "ctranslate2"
ARTIFACT_DIRS = {"onnx": ONNX_DIR, "onnx-int8": ONNX_INT8_DIR, "ctranslate2": CTRANSLATE2_DIR}  # backend -> folder
ONNX_MARKER = "encoder_model.onnx"  # an ONNX export folder is complete when this is there
CTRANSLATE2_MARKER = "model.bin"
TRAIN_RESULTS_JSON = "train_results.json"  # the training folder's summary (report.json's "training" section)
EVALUATION_JSON = "evaluation.json"  # `bilingual evaluate`'s output (report.json's "evaluation" section)
MODEL_EVAL_DIR = "eval"  # `bilingual evaluate MODEL` writes MODEL/eval/<backend>/evaluation.json by default
CHECKPOINT_GLOB = "checkpoint-*"

# ------------------------------------------------------------------ Hub
DEFAULT_DATASET_REPO = "org/bilingual"
DEFAULT_MODEL_REPO = "org/bilingual-mt"
DEFAULT_DATASET_CONFIG = "default"  # the dataset card's config holding train/validation/test


def public_name(path) -> str:
    """A path as it may appear in a published card: relative to the repository when it is a bundled file
    (`data/samples/parallel/ntrex128/...`), else just its name — never the builder's absolute location."""
    text = str(path)
    if not text:
        return text
    p = Path(text)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return p.name
