"""Filter recipes: YAML (or a dict) validated in full before any work.

An unknown step, an unknown or ill-typed or out-of-range parameter is a RecipeError naming the
recipe file, the step and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilingual.filters.base import REGISTRY, Step, _load_steps


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the recipe, the step and the parameter."""


class Recipe(BaseModel):
    """The head of a recipe: how to run it (each also a command-line flag) and its steps."""

    model_config = ConfigDict(extra="forbid")
    name: str = "recipe"
    description: str = ""
    num_proc: int = Field(1, ge=1, le=1024)  # `map` workers per chunk (local executor)
    batch_size: int = Field(1000, ge=1)  # rows per step call
    chunk_rows: int = Field(100_000, ge=1)  # rows held in memory at once (local executor)
    chunk_mb: int = Field(64, ge=1, le=1 << 16)  # MB of text (bn + en) held at once: a chunk ends at either bound
    executor: Literal["local", "ray"] = "local"
    ray_address: Optional[str] = None  # `ray start --head` address; None starts a local Ray
    steps: list[dict[str, Any]]


_FLAGS = {"num_proc": "--num-proc", "batch_size": "--batch-size", "chunk_rows": "--chunk-rows", "chunk_mb": "--chunk-mb",
          "executor": "--executor", "ray_address": "--ray-address"}


def check_overrides(where: str, **values) -> None:
    """Validate run settings given outside the recipe (flags, keyword arguments) with the recipe's
    ranges; the message names the flag."""
    for key, value in values.items():
        if value is None:
            continue
        try:
            Recipe.__pydantic_validator__.validate_assignment(Recipe.model_construct(), key, value)
        except ValidationError as err:
            raise RecipeError(f"{where}: {_FLAGS.get(key, key)} {value!r}: {err.errors()[0]['msg']}") from err


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "parameters"
    got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
    return f"{loc!r}: {first['msg']}{got}"


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
        raise RecipeError(f"{where}: {_describe(err)}") from err
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
            raise RecipeError(f"{where}: step {i} {label!r}: parameter {_describe(err)}") from err
        steps.append(Step(label, spec, params))
    if not steps:
        raise RecipeError(f"{where}: no steps")
    return head, steps
