"""What the run report shows, read from what the stages wrote: `report.json` (its documented sections) and the
dataset folder's Parquet (kept pairs for histograms, `rejects/` with `reject_step`/`reject_reason`). Nothing is
recomputed or guessed from file names beyond the layout the corpus build and `bilingual filter` write."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

from bilingual.layout import (DATA_DIR, DATASET_DIR, REJECT_REASON_COLUMN, REJECT_STEP_COLUMN, REJECTS_DIR,
                              REJECTS_GLOB, REPORT_JSON, SPLITS, split_glob)

log = logging.getLogger("bilingual.reporting")

MAX_ROWS = 200_000  # rows read from the dataset for histograms (a uniform prefix of each file)
LID_SUFFIX = "_prob"  # the langid step's score columns: lid_bn_prob, lid_en_prob


def num(value) -> Optional[float]:
    """A finite float, or None for anything else (missing, text, NaN)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def load_report(run_dir: Path) -> dict:
    """`run_dir/report.json` as a dict; a one-line error naming the file when it is missing or not JSON."""
    path = Path(run_dir) / REPORT_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {REPORT_JSON} in the run folder (run `bilingual run` first)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(report, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    return report


def corpus_steps(report: dict) -> list[dict]:
    """The filter funnel: report.json's corpus.steps (what the build's stats.json says), or []."""
    corpus = report.get("corpus") if isinstance(report.get("corpus"), dict) else {}
    steps = corpus.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def _split_of(path: Path) -> Optional[str]:
    """The split a shard holds, from its name as the corpus build writes it (`data/<split>-*.parquet`)."""
    return next((s for s in SPLITS if path.match(split_glob(s))), None)


def _read_rows(files: Iterable[Path], wanted: Iterable[str], limit: int = MAX_ROWS):
    """Rows (dicts with the wanted columns each file has) and the total row count of the files."""
    import pyarrow.parquet as pq

    rows, total = [], 0
    wanted = list(wanted)
    for path in files:
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # an unreadable shard is reported, not fatal
            log.warning("skipping unreadable Parquet file %s: %s", path, exc)
            continue
        total += pf.metadata.num_rows
        cols = [c for c in wanted if c in set(pf.schema_arrow.names)]
        if not cols or len(rows) >= limit:
            continue
        for batch in pf.iter_batches(columns=cols, batch_size=10_000):
            for r in batch.to_pylist():
                r["__file__"] = path
                rows.append(r)
            if len(rows) >= limit:
                break
    return rows, total


def _clip(text, n: int = 160):
    if not isinstance(text, str):
        return text
    return text if len(text) <= n else text[:n] + "…"


def dataset_stats(run_dir: Path) -> dict:
    """What the report shows from `run_dir/dataset/`: kept pairs (`data/<split>-*.parquet` from the corpus build,
    or `kept-*.parquet` from `bilingual filter`) and `rejects/` as the filter pipeline writes them."""
    import pyarrow.parquet as pq

    root = Path(run_dir) / DATASET_DIR
    out: dict[str, Any] = {}
    if not root.is_dir():
        return out
    kept_files = sorted((root / DATA_DIR).glob("*.parquet")) + sorted(root.glob("kept-*.parquet"))
    reject_files = sorted((root / REJECTS_DIR).glob(REJECTS_GLOB))

    names: set[str] = set()
    for p in kept_files:
        try:
            names |= set(pq.read_schema(p).names)
        except Exception:  # reported by _read_rows
            pass
    lid_cols = sorted(c for c in names if c.startswith("lid_") and c.endswith(LID_SUFFIX))
    rows, total = _read_rows(kept_files, ["bn", "en", "source", "split"] + lid_cols)
    out["kept_rows"] = total
    out["rows_read"] = len(rows)
    out["lid_columns"] = lid_cols
    out["splits"] = dict(Counter(r.get("split") or _split_of(r["__file__"]) or "all" for r in rows))
    out["sources"] = dict(Counter(r["source"] for r in rows if r.get("source")))
    out["lengths"] = {lang: [len(r[lang]) for r in rows if isinstance(r.get(lang), str)] for lang in ("bn", "en")}
    out["words"] = {lang: [len(r[lang].split()) for r in rows if isinstance(r.get(lang), str)] for lang in ("bn", "en")}
    out["ratios"] = [len(r["bn"]) / len(r["en"]) for r in rows
                     if isinstance(r.get("bn"), str) and isinstance(r.get("en"), str) and r["en"]]
    out["lid"] = {c: [v for v in (num(r.get(c)) for r in rows) if v is not None] for c in lid_cols}

    if reject_files:
        step, reason = REJECT_STEP_COLUMN, REJECT_REASON_COLUMN
        rrows, rtotal = _read_rows(reject_files, [step, reason, "bn", "en", "source"])
        out["rejects_total"] = rtotal
        by = Counter((str(r.get(step) or "?"), str(r.get(reason) or "?")) for r in rrows)
        out["rejects_by"] = [{"step": s, "reason": why, "rows": n} for (s, why), n in by.most_common()]
        samples, seen = [], Counter()
        for r in rrows:
            key = (r.get(step), r.get(reason))
            if seen[key] < 3:
                seen[key] += 1
                samples.append({"step": r.get(step), "reason": r.get(reason),
                                "bn": _clip(r.get("bn")), "en": _clip(r.get("en"))})
        out["reject_samples"] = samples[:60]
    return out
