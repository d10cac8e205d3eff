"""The filter `Pipeline` facade: `Pipeline.from_recipe(path_or_dict).run(dataset)` or `.run_files(...)`.

The parts live in base (step protocol, registry), recipe (loading/validation), executor_local,
executor_ray and stats; this module keeps the public names other modules import.
"""

from bilingual.filters.base import (DROP_REASON, DROP_STEP, META, REGISTRY, TEXT_COLUMNS, PipelineCheckError,
                                    Step, StepContext, StepParams, StepSpec, load_steps, register)
from bilingual.filters.executor_local import Pipeline, PipelineResult
from bilingual.filters.stages import write_kept_rejects
from bilingual.storage import write_shards
from bilingual.filters.recipe import Recipe, RecipeError, load_recipe
from bilingual.filters.stats import count_drops, funnel, print_stats

__all__ = ["DROP_REASON", "DROP_STEP", "META", "REGISTRY", "TEXT_COLUMNS", "Pipeline", "PipelineCheckError",
           "PipelineResult", "Recipe", "RecipeError", "Step", "StepContext", "StepParams", "StepSpec", "load_recipe",
           "load_steps", "count_drops", "funnel", "print_stats", "register", "write_kept_rejects", "write_shards"]
