"""Per-step stats recorded by the executors, merged over chunks, and printed as a funnel."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from bilingual import console
from bilingual.filters.base import DROP_REASON, DROP_STEP, PipelineCheckError


def count_drops(table: pa.Table) -> dict[str, Counter]:
    """{step: Counter(reason)} over a table's `_drop_step`/`_drop_reason` columns."""
    by_step: dict[str, Counter] = {}
    if table.num_rows:
        t = pa.table({"s": table.column(DROP_STEP), "r": table.column(DROP_REASON)})
        t = t.group_by(["s", "r"]).aggregate([([], "count_all")])
        for s, r, c in zip(*(t.column(k).to_pylist() for k in ("s", "r", "count_all"))):
            if s is not None:
                by_step.setdefault(s, Counter())[r] += c
    return by_step


def funnel(steps, recipe_name: str, n_in: int, drops: dict[str, Counter], timings, counts) -> dict:
    """The funnel of one run: per step in/kept/dropped/seconds/reasons (reasons from `count_drops`
    over every row), timings and counters as recorded by the executor."""
    rows, cur = [], n_in
    for step in steps:
        reasons = drops.get(step.name, Counter())
        dropped = sum(reasons.values())
        row = {"step": step.name, "type": step.spec.name, "in": cur, "kept": cur - dropped, "dropped": dropped,
               "seconds": round(timings.get(step.name, 0.0), 4), "reasons": dict(reasons.most_common())}
        if counts.get(step.name):
            row["counts"] = dict(counts[step.name])
        rows.append(row)
        cur -= dropped
    unknown = set(drops) - {s.name for s in steps}
    if unknown or cur < 0 or any(r["in"] != r["kept"] + r["dropped"] for r in rows):
        raise PipelineCheckError(f"the funnel does not add up (in={n_in}, kept={cur}, unknown steps {unknown})")
    return {"recipe": recipe_name, "steps": rows, "in": n_in, "kept": cur, "rejected": n_in - cur}


def print_stats(stats: dict, title: str = "filter funnel") -> None:
    rows = [{"step": r["step"], "in": r["in"], "kept": r["kept"], "dropped": r["dropped"],
             "seconds": r["seconds"], "top reasons": ", ".join(f"{k}={v}" for k, v in list(r["reasons"].items())[:3])
             + ("; " + ", ".join(f"{k}={v}" for k, v in r.get("counts", {}).items()) if r.get("counts") else "")}
            for r in stats["steps"]]
    console.detail(title, rows)
    console.detail("totals", {k: stats[k] for k in ("in", "kept", "rejected") if k in stats})
