"""Per-step stats recorded by the executors, merged over chunks, and printed as a funnel."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from bilingual import console
from bilingual.filters.base import DROP_REASON, DROP_STEP, PipelineCheckError


def step_stats(steps, recipe_name: str, dataset, n_in: int, timings, counts) -> dict:
    """The funnel of one run: per step in/kept/dropped/seconds/reasons, from the final drop columns."""
    steps_col = dataset.data.column(DROP_STEP)
    reason_col = dataset.data.column(DROP_REASON)
    by_step: dict[str, Counter] = {s.name: Counter() for s in steps}
    if n_in:
        table = pa.table({"s": steps_col, "r": reason_col}).group_by(["s", "r"]).aggregate([([], "count_all")])
        for s, r, c in zip(*(table.column(k).to_pylist() for k in ("s", "r", "count_all"))):
            if s is not None:
                by_step[s][r] += c
    rows, cur = [], n_in
    for step in steps:
        dropped = sum(by_step[step.name].values())
        row = {"step": step.name, "type": step.spec.name, "in": cur, "kept": cur - dropped, "dropped": dropped,
               "seconds": round(timings[step.name], 4), "reasons": dict(by_step[step.name].most_common())}
        if counts[step.name]:
            row["counts"] = dict(counts[step.name])
        rows.append(row)
        cur -= dropped
    rejected = n_in - cur
    if any(r["in"] != r["kept"] + r["dropped"] for r in rows):
        raise PipelineCheckError("a step's in != kept + dropped")
    return {"recipe": recipe_name, "steps": rows, "in": n_in, "kept": cur, "rejected": rejected}


def merge_stats(parts: list[dict], pipeline) -> dict:
    """Per-chunk stats summed into one funnel (same shape as a single run's)."""
    steps = []
    for i, step in enumerate(pipeline.steps):
        rows = [p["steps"][i] for p in parts]
        reasons, counts = Counter(), Counter()
        for r in rows:
            reasons.update(r["reasons"])
            counts.update(r.get("counts", {}))
        row = {"step": step.name, "type": step.spec.name, "in": sum(r["in"] for r in rows),
               "kept": sum(r["kept"] for r in rows), "dropped": sum(r["dropped"] for r in rows),
               "seconds": round(sum(r["seconds"] for r in rows), 4), "reasons": dict(reasons.most_common())}
        if counts:
            row["counts"] = dict(counts)
        steps.append(row)
    total_in = sum(p["in"] for p in parts)
    kept = sum(p["kept"] for p in parts)
    out = {"recipe": pipeline.recipe.name, "steps": steps, "in": total_in, "kept": kept, "rejected": total_in - kept}
    if any(r["in"] != r["kept"] + r["dropped"] for r in steps) or out["rejected"] != sum(p["rejected"] for p in parts):
        raise PipelineCheckError("merged stats do not add up")
    return out


def print_stats(stats: dict, title: str = "filter funnel") -> None:
    rows = [{"step": r["step"], "in": r["in"], "kept": r["kept"], "dropped": r["dropped"],
             "seconds": r["seconds"], "top reasons": ", ".join(f"{k}={v}" for k, v in list(r["reasons"].items())[:3])
             + ("; " + ", ".join(f"{k}={v}" for k, v in r.get("counts", {}).items()) if r.get("counts") else "")}
            for r in stats["steps"]]
    console.summary(title, rows)
    console.summary("totals", {k: stats[k] for k in ("in", "kept", "rejected") if k in stats})
