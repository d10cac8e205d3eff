"""The one owner of names that cross modules: where bundled files live, artifact folders, file patterns.

Every module that needs one of these imports it from here, so a rename happens in one place.
"""

from __future__ import annotations

from pathlib import Path

# ------------------------------------------------------------------ bundled files (repository or package data)
REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "data" / "samples"
PARALLEL_SAMPLES = SAMPLES / "parallel"
RECIPES = REPO_ROOT / "recipes"
MODEL_CARD_TEMPLATES = REPO_ROOT / "model_cards"
DEFAULT_PIPELINE_RECIPE = RECIPES / "pipeline" / "default.yaml"
DEFAULT_PUBLISH_RECIPE = RECIPES / "pipeline" / "publish.yaml"
DEFAULT_FILTER_RECIPE = RECIPES / "filters" / "default.yaml"
