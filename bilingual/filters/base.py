"""The step protocol: parameter models, the step spec, and the registry keyed by step name.

A step is one file in `bilingual/filters/steps/` that calls `register(name, Params, ...)` on a batched
function; `load_steps()` imports them all. Executors (executor_local, executor_ray) run the same specs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

from pydantic import BaseModel, ConfigDict, Field

DROP_STEP, DROP_REASON, META = "_drop_step", "_drop_reason", "_meta"
TEXT_COLUMNS = ("bn", "en")

# Parameter ranges shared by steps: a recipe value outside them is refused before any work.
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]  # shares, probabilities, similarity thresholds
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class PipelineCheckError(RuntimeError):
    """The accounting invariant (in == kept + rejected) failed: a bug, never silently ignored."""


class StepParams(BaseModel):
    """Base for step parameter models: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclasses.dataclass
class StepContext:
    """What a step may need besides its batch: where to keep artifacts, the text columns, fitted state."""

    artifacts_dir: Optional[Path] = None
    columns: tuple[str, ...] = TEXT_COLUMNS
    state: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StepSpec:
    """A registered step.

    `fn(batch, params, ctx) -> dict`: batch holds only alive rows (dict of lists); the result may
    hold replaced text columns, new score columns (one value per row), `_reason` (None = keep) and
    `_counts` ({name: int}, e.g. PII replacements). A global step also has
    `decide(data, alive, params, ctx) -> (codes int array, reasons list)`: code 0 keeps, code k
    rejects with reasons[k-1]; it runs in the main process over the columns `fn` produced.
    `fit(dataset, alive, params, ctx)` runs in the main process before the step's pass.

    Global steps see the WHOLE input: `decide(data, alive, params, ctx)` gets the executor's stage
    data (`data.column(name)`: one column for every row; `data.iter_column(name)`: (row offset,
    column) one chunk at a time; `data.work_dir`: scratch space to spill to) and `alive` over every
    row; `fit` gets every row as one Dataset. `ray_decide(ray_dataset, alive, params, ctx)` is the
    same decision over a Ray Dataset (columns `_row` = row number, and those `fn` produced); steps
    without one decide on the Ray driver with `decide`."""

    name: str
    params: type[StepParams]
    fn: Callable
    decide: Optional[Callable] = None
    fit: Optional[Callable] = None
    ray_decide: Optional[Callable] = None
    temp_columns: tuple[str, ...] = ()  # columns only `decide` needs; dropped from outputs
    outputs: Any = None  # {column: dtype} (or a callable of params) for the columns `fn` adds
    doc: str = ""

    def output_features(self, params) -> dict:
        from datasets import Value

        outs = self.outputs(params) if callable(self.outputs) else (self.outputs or {})
        return {k: Value(v) if isinstance(v, str) else v for k, v in outs.items()}


REGISTRY: dict[str, StepSpec] = {}


def register(name: str, params: type[StepParams], *, decide=None, fit=None, ray_decide=None, temp_columns=(),
             outputs=None):
    """Register a step type under `name` (the `step:` key of a recipe)."""
    def wrap(fn):
        REGISTRY[name] = StepSpec(name, params, fn, decide, fit, ray_decide, tuple(temp_columns), outputs,
                                  (fn.__doc__ or "").strip())
        return fn
    return wrap


def _load_steps() -> None:
    """Import every module of bilingual.filters.steps: importing a step module registers it."""
    import importlib
    import pkgutil

    from bilingual.filters import steps
    for module in pkgutil.iter_modules(steps.__path__):
        importlib.import_module(f"{steps.__name__}.{module.name}")


load_steps = _load_steps


@dataclasses.dataclass
class Step:
    name: str  # the label in stats (defaults to the step type; `name:` in YAML to run a type twice)
    spec: StepSpec
    params: StepParams
