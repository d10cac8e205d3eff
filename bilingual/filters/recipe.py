"""Filter recipes: YAML (or a dict) validated in full before any work.

An unknown step, an unknown or ill-typed or out-of-range parameter is a RecipeError naming the
recipe file, the step and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bilingual.filters.base import REGISTRY, Step, _load_steps


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the recipe, the step and the parameter."""


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "recipe"
    description: str = ""
    num_proc: int = 1
    batch_size: int = 1000
    steps: list[dict[str, Any]]


def load_recipe(recipe: str | Path | dict) -> tuple[Recipe, list[Step]]:
    """Parse and validate a whole recipe; raise RecipeError naming the step and parameter."""
    _load_steps()
    where = "recipe"
    if isinstance(recipe, (str, Path)):
        where = str(recipe)
        try:
            data = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise RecipeError(f"{where}: cannot read recipe: {err}") from err
    else:
        data = recipe
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe is a mapping with a 'steps' list")
    try:
        head = Recipe.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise RecipeError(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from err
    steps, seen = [], set()
    for i, raw in enumerate(head.steps, start=1):
        raw = dict(raw or {})
        kind = raw.pop("step", None)
        if kind is None:
            raise RecipeError(f"{where}: step {i} has no 'step:' key")
        label = str(raw.pop("name", kind))
        if kind not in REGISTRY:
            raise RecipeError(f"{where}: step {i} {kind!r}: unknown step (known: {', '.join(sorted(REGISTRY))})")
        if label in seen:
            raise RecipeError(f"{where}: step {i} {label!r}: duplicate step name; give it a distinct 'name:'")
        seen.add(label)
        spec = REGISTRY[kind]
        try:
            params = spec.params.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise RecipeError(f"{where}: step {i} {label!r}: parameter {param!r}: {first['msg']}") from err
        steps.append(Step(label, spec, params))
    if not steps:
        raise RecipeError(f"{where}: no steps")
    return head, steps
