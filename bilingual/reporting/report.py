"""The run report: `report.html` beside a run's `report.json`, readable offline at a glance.

Sections (each only when its data exists): run and stage timings, source mix, the filter funnel
with reject reasons, dedup counts, length / length-ratio histograms and language-ID confidence from
the dataset Parquet, reject samples, training and dev curves, evaluation scores with sacreBLEU
signatures, export parity and speed. Plots are matplotlib PNGs embedded as data URIs, so the file
needs no network and no other file.

Bengali in plots: matplotlib has no complex-script shaping, so plot labels use only Bengali words that
need none (e.g. "বাংলা"); real Bengali sentences (reject samples) go in HTML tables, which the browser
shapes. A font with Bengali glyphs is registered with matplotlib by path (Debian: fonts-noto-core,
or fonts-beng / fonts-lohit-beng-bengali); without one the report still renders and says so.
"""

from __future__ import annotations

import base64
import glob
import html
import io
import json
import logging
import math
import os
import re
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional

from bilingual.layout import (DATA_DIR, DATASET_DIR, REJECT_REASON_COLUMN, REJECT_STEP_COLUMN, REJECTS_DIR,
                              REJECTS_GLOB, REPORT_HTML, REPORT_JSON, SPLITS, split_glob)

log = logging.getLogger("bilingual.reporting.report")

BENGALI_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSansBengali-Regular.ttf",        # fonts-noto-core
    "/usr/share/fonts/truetype/noto/NotoSansBengaliUI-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansBengali-Regular.otf",
    "/usr/share/fonts/truetype/lohit-bengali/Lohit-Bengali.ttf",          # fonts-lohit-beng-bengali
    "/usr/share/fonts/truetype/fonts-beng-extra/MuktiNarrow.ttf",         # fonts-beng-extra
    "/usr/share/fonts/truetype/freefont/FreeSerif.ttf",                   # fonts-freefont-ttf (has Bengali)
)
FONT_INSTALL_HINT = "apt-get install fonts-noto-core (or fonts-beng)"
MAX_ROWS = 200_000  # rows read from the dataset for histograms (a uniform prefix of each file)
BN_LABEL = "bn (বাংলা)"
EN_LABEL = "en (English)"
COLORS = {"bn": "#d95f02", "en": "#1b9e77", "kept": "#1b9e77", "dropped": "#d95f02", "other": "#7570b3"}


# ---------------------------------------------------------------- fonts

_font_state: dict[str, Any] = {}


def bengali_font() -> Optional[str]:
    """Path of a font with Bengali glyphs, registered with matplotlib (None when none is installed).
    BILINGUAL_BENGALI_FONT may name one."""
    if "path" in _font_state:
        return _font_state["path"]
    from matplotlib import font_manager

    candidates = [os.environ.get("BILINGUAL_BENGALI_FONT", "")] + list(BENGALI_FONT_CANDIDATES)
    candidates += sorted(glob.glob("/usr/share/fonts/**/*Bengali*.[ot]tf", recursive=True))
    path = next((c for c in candidates if c and os.path.isfile(c)), None)
    name = None
    if path:
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
        except Exception as exc:  # a broken font file must not break the report
            log.warning("could not load the Bengali font %s: %s", path, exc)
            path = None
    if not path:
        log.warning("no font with Bengali glyphs found; Bengali in plots will show as boxes (%s)", FONT_INSTALL_HINT)
    _font_state.update(path=path, name=name)
    return path


def _rc() -> dict:
    bengali_font()
    families = ["DejaVu Sans"] + ([_font_state["name"]] if _font_state.get("name") else [])
    return {"font.family": families, "axes.spines.top": False, "axes.spines.right": False,
            "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 100, "savefig.dpi": 100}


# ---------------------------------------------------------------- plotting helpers

def _figure(width: float = 7.0, height: float = 3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plot(draw, width: float = 7.0, height: float = 3.6) -> str:
    import matplotlib

    with matplotlib.rc_context(_rc()):
        fig = _figure(width, height)
        draw(fig)
        return _png(fig)


def _num(value) -> Optional[float]:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if value is None:
        return "–"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)[:300]
    return str(value)


def _table(rows: list[dict], columns: Optional[list[str]] = None, cls: str = "") -> str:
    if not rows:
        return ""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class=\"{'num' if num else ''}\">{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"{cls}\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(mapping: dict) -> str:
    return _table([{"what": k, "value": v} for k, v in mapping.items()], ["what", "value"], "kv")


def _img(uri: str, alt: str) -> str:
    return f"<figure><img src=\"{uri}\" alt=\"{html.escape(alt)}\"><figcaption>{html.escape(alt)}</figcaption></figure>"


# ---------------------------------------------------------------- dataset reading

LID_COLUMN = re.compile(r"(^|_)(lid|langid|lang_?id|lang_prob|lang_conf|lid_prob|lid_score)(_|$)|_lid_|lid_(bn|en)|"
                        r"(bn|en)_(lid|lang)_?(prob|conf|score)?$", re.I)
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
        names = set(pf.schema_arrow.names)
        cols = [c for c in wanted if c in names] or None
        if not cols or len(rows) >= limit:
            continue
        for batch in pf.iter_batches(columns=cols, batch_size=10_000):
            for r in batch.to_pylist():
                r["__file__"] = path
                rows.append(r)
            if len(rows) >= limit:
                break
    return rows, total


def dataset_stats(run_dir: Path) -> dict:
    """What the report shows from `run_dir/dataset/` Parquet (kept pairs and rejects)."""
    import pyarrow.parquet as pq

    root = run_dir / DATASET_DIR
    out: dict[str, Any] = {}
    if not root.is_dir():
        return out
    # kept pairs: data/<split>-*.parquet (corpus build) or kept-*.parquet (`bilingual filter`); rejects: rejects/
    kept_files = sorted((root / DATA_DIR).glob("*.parquet")) + sorted(root.glob("kept-*.parquet"))
    reject_files = sorted((root / REJECTS_DIR).glob(REJECTS_GLOB))

    names: set[str] = set()
    for p in kept_files:
        try:
            names |= set(pq.read_schema(p).names)
        except Exception:
            pass
    lid_cols = sorted(c for c in names if LID_COLUMN.search(c) and c not in ("bn", "en"))
    rows, total = _read_rows(kept_files, ["bn", "en", "source", "split"] + lid_cols)
    out["kept_rows"] = total
    out["rows_read"] = len(rows)
    out["lid_columns"] = lid_cols
    split_counts: Counter = Counter()
    for r in rows:
        split_counts[r.get("split") or _split_of(r["__file__"]) or "all"] += 1
    out["splits"] = dict(split_counts)
    out["sources"] = dict(Counter(r["source"] for r in rows if r.get("source")))
    out["lengths"] = {lang: [len(r[lang]) for r in rows if isinstance(r.get(lang), str)] for lang in ("bn", "en")}
    out["words"] = {lang: [len(r[lang].split()) for r in rows if isinstance(r.get(lang), str)] for lang in ("bn", "en")}
    out["ratios"] = [len(r["bn"]) / len(r["en"]) for r in rows
                     if isinstance(r.get("bn"), str) and isinstance(r.get("en"), str) and r["en"]]
    out["lid"] = {c: [v for v in (_num(r.get(c)) for r in rows) if v is not None] for c in lid_cols}

    if reject_files:
        step_col, reason_col = REJECT_STEP_COLUMN, REJECT_REASON_COLUMN  # as the filter pipeline writes them
        rrows, rtotal = _read_rows(reject_files, [step_col, reason_col, "bn", "en", "source"])
        out["rejects_total"] = rtotal
        by = Counter((str(r.get(step_col) or "?"), str(r.get(reason_col) or "?")) for r in rrows)
        out["rejects_by"] = [{"step": s, "reason": why, "rows": n} for (s, why), n in by.most_common()]
        samples, seen = [], Counter()
        for r in rrows:
            key = (r.get(step_col), r.get(reason_col))
            if seen[key] < 3:
                seen[key] += 1
                samples.append({"step": r.get(step_col), "reason": r.get(reason_col),
                                "bn": _clip(r.get("bn")), "en": _clip(r.get("en"))})
        out["reject_samples"] = samples[:60]
    return out


def _clip(text, n: int = 160):
    if not isinstance(text, str):
        return text
    return text if len(text) <= n else text[:n] + "…"


# ---------------------------------------------------------------- sections

def _corpus_steps(corpus: dict) -> list[dict]:
    for key in ("steps", "per_step", "per-step", "filters"):
        v = corpus.get(key)
        if isinstance(v, list) and all(isinstance(x, dict) for x in v):
            return v
    for v in corpus.values():
        if isinstance(v, list) and v and all(isinstance(x, dict) and "step" in x for x in v):
            return v
    return []


def _section_run(report: dict) -> str:
    info = {}
    for key in ("run_dir", "started_at", "finished_at"):
        if report.get(key):
            info[key] = report[key]
    try:
        start = datetime.fromisoformat(str(report["started_at"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(report["finished_at"]).replace("Z", "+00:00"))
        info["duration"] = f"{(end - start).total_seconds():,.1f} s"
    except (KeyError, ValueError, TypeError):
        pass
    parts = [_kv(info)] if info else []
    versions = report.get("versions")
    if isinstance(versions, dict) and versions:
        parts.append("<h3>Versions</h3>" + _kv(versions))
    stages = [s for s in report.get("stages") or [] if isinstance(s, dict)]
    if stages:
        parts.append("<h3>Stages</h3>" + _table(stages, ["name", "seconds", "records_in", "records_out"]))
        timed = [(str(s.get("name", "?")), _num(s.get("seconds")) or 0.0) for s in stages]

        def draw(fig):
            ax = fig.subplots()
            ax.barh([n for n, _ in timed][::-1], [t for _, t in timed][::-1], color=COLORS["other"])
            ax.set_xlabel("seconds")
            ax.set_title("Time per stage")

        parts.append(_img(_plot(draw, 7, 0.5 + 0.35 * len(timed)), "Time per stage"))
    return "".join(parts)


def _section_sources(report: dict, data: dict) -> str:
    sources = [s for s in report.get("sources") or [] if isinstance(s, dict)]
    mix = {str(s.get("source")): _num(s.get("kept")) or 0 for s in sources if s.get("source")}
    basis = "kept records per source (report.json)"
    if not any(mix.values()) and data.get("sources"):
        mix, basis = data["sources"], "pairs per source in the dataset"
    parts = []
    if sources:
        parts.append(_table(sources, ["source", "license", "read", "kept", "quarantined", "status"]))
    if any(mix.values()):
        items = sorted(mix.items(), key=lambda kv: -kv[1])

        def draw(fig):
            ax = fig.subplots()
            total = sum(v for _, v in items) or 1
            bars = ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=COLORS["kept"])
            for bar, (_, v) in zip(bars, items[::-1]):
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,.0f} ({100 * v / total:.0f}%)",
                        va="center", fontsize=8)
            ax.set_xlabel("records")
            ax.set_title(f"Source mix: {basis}")

        parts.append(_img(_plot(draw, 7, 0.8 + 0.35 * len(items)), f"Source mix: {basis}"))
    return "".join(parts)


def _section_funnel(report: dict) -> tuple[str, str]:
    corpus = report.get("corpus") if isinstance(report.get("corpus"), dict) else {}
    steps = _corpus_steps(corpus)
    parts, dedup = [], []
    totals = {k: corpus.get(k) for k in ("in", "kept", "rejected") if corpus.get(k) is not None}
    if isinstance(corpus.get("splits"), dict):
        totals.update({f"split {k}": v for k, v in corpus["splits"].items()})
    if corpus.get("dataset_dir"):
        totals["dataset_dir"] = corpus["dataset_dir"]
    if totals:
        parts.append(_kv(totals))
        i, k, r = (_num(totals.get(x)) for x in ("in", "kept", "rejected"))
        if None not in (i, k, r) and abs(i - (k + r)) > 0.5:
            parts.append(f"<p class=\"warn\">in ({i:,.0f}) ≠ kept ({k:,.0f}) + rejected ({r:,.0f}): "
                         f"{i - k - r:,.0f} records unaccounted for.</p>")
    if steps:
        names = [str(s.get("step", f"step {n}")) for n, s in enumerate(steps)]
        kept = [_num(s.get("kept")) or 0 for s in steps]
        dropped = [_num(s.get("dropped")) if s.get("dropped") is not None
                   else max(0.0, (_num(s.get("in")) or 0) - (_num(s.get("kept")) or 0)) for s in steps]

        def draw(fig):
            ax = fig.subplots()
            y = list(range(len(names)))[::-1]
            ax.barh(y, kept, color=COLORS["kept"], label="kept")
            ax.barh(y, dropped, left=kept, color=COLORS["dropped"], label="dropped")
            ax.set_yticks(y, names)
            ax.set_xlabel("records")
            ax.set_title("Filter funnel (records entering each step)")
            ax.legend(loc="lower right", fontsize=8)

        parts.append(_img(_plot(draw, 7.5, 0.9 + 0.4 * len(names)), "Filter funnel per step"))
        rows = []
        for s in steps:
            reasons = s.get("reasons") if isinstance(s.get("reasons"), dict) else {}
            top = ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}"
                            for k, v in sorted(reasons.items(), key=lambda kv: -(_num(kv[1]) or 0)))
            rows.append({"step": s.get("step"), "in": s.get("in"), "kept": s.get("kept"), "dropped": s.get("dropped"),
                         "seconds": s.get("seconds"), "reasons": top or "–"})
            if "dedup" in str(s.get("step", "")).lower() or "dup" in str(s.get("step", "")).lower():
                dedup.append({"step": s.get("step"), "in": s.get("in"), "duplicates removed": s.get("dropped"),
                              **{f"reason: {k}": v for k, v in reasons.items()}})
        parts.append(_table(rows, ["step", "in", "kept", "dropped", "seconds", "reasons"]))
        reason_items = [(f"{s.get('step')}: {why}", _num(n) or 0) for s in steps
                        for why, n in (s.get("reasons") or {}).items() if isinstance(s.get("reasons"), dict)]
        if reason_items:
            reason_items = sorted(reason_items, key=lambda kv: -kv[1])[:25]

            def draw_reasons(fig):
                ax = fig.subplots()
                ax.barh([k for k, _ in reason_items][::-1], [v for _, v in reason_items][::-1], color=COLORS["dropped"])
                ax.set_xlabel("records rejected")
                ax.set_title("Reject reasons")

            parts.append(_img(_plot(draw_reasons, 7.5, 0.9 + 0.3 * len(reason_items)), "Reject reasons"))
    return "".join(parts), _table(dedup) if dedup else ""


def _hist(ax, values, bins=40, clip_quantile=0.99, integer=False, **kw):
    """A histogram with the top 1% folded into the last bin (one outlier must not flatten the plot)."""
    if not values:
        return
    vs = sorted(values)
    hi = vs[min(len(vs) - 1, int(clip_quantile * (len(vs) - 1)))]
    if integer and hi - vs[0] < 60:
        bins = [b - 0.5 for b in range(int(vs[0]), int(hi) + 2)]
        ax.hist([min(v, hi) for v in vs], bins=bins, **kw)
        return
    ax.hist([min(v, hi) for v in vs], bins=bins, range=(vs[0], hi if hi > vs[0] else vs[0] + 1), **kw)


def _section_dataset(data: dict) -> str:
    if not data:
        return ""
    parts = []
    info = {"pairs in dataset": data.get("kept_rows", 0)}
    if data.get("rows_read", 0) < data.get("kept_rows", 0):
        info["pairs used for the plots"] = data["rows_read"]
    for split, n in sorted(data.get("splits", {}).items()):
        info[f"split {split}"] = n
    if data.get("lid_columns"):
        info["language-ID columns"] = ", ".join(data["lid_columns"])
    if "rejects_total" in data:
        info["rejected rows (rejects Parquet)"] = data["rejects_total"]
    parts.append(_kv(info))
    lengths, words = data.get("lengths", {}), data.get("words", {})
    if any(lengths.values()):
        def draw(fig):
            axes = fig.subplots(1, 2)
            for ax, series, unit in ((axes[0], lengths, "characters"), (axes[1], words, "words")):
                for lang, label in (("bn", BN_LABEL), ("en", EN_LABEL)):
                    _hist(ax, series.get(lang, []), alpha=0.6, color=COLORS[lang], label=label, integer=True)
                ax.set_xlabel(f"length ({unit})")
                ax.set_ylabel("pairs")
                ax.legend(fontsize=8)
            fig.suptitle("Sentence length per language")

        parts.append(_img(_plot(draw, 9, 3.6), "Sentence length per language (bn বাংলা, en)"))
    if data.get("ratios"):
        def draw_ratio(fig):
            ax = fig.subplots()
            _hist(ax, data["ratios"], bins=50, color=COLORS["other"])
            ax.set_xlabel("length ratio bn/en (characters)")
            ax.set_ylabel("pairs")
            ax.set_title("Length ratio বাংলা / English")

        parts.append(_img(_plot(draw_ratio), "Length ratio bn/en"))
    lid = {c: v for c, v in (data.get("lid") or {}).items() if v}
    if lid:
        def draw_lid(fig):
            ax = fig.subplots()
            for c, values in lid.items():
                lang = "bn" if "bn" in c.lower() else "en" if "en" in c.lower() else "other"
                ax.hist(values, bins=40, range=(0, 1), alpha=0.6, color=COLORS[lang], label=c)
            ax.set_xlabel("language-ID probability (fastText lid.176)")
            ax.set_ylabel("pairs")
            ax.set_title("Language-ID confidence")
            ax.legend(fontsize=8)

        parts.append(_img(_plot(draw_lid), "Language-ID confidence"))
    elif data.get("kept_rows"):
        parts.append("<p class=\"note\">No language-ID confidence column in the dataset.</p>")
    if data.get("rejects_by"):
        parts.append("<h3>Rejects Parquet</h3>" + _table(data["rejects_by"], ["step", "reason", "rows"]))
    if data.get("reject_samples"):
        parts.append("<h3>Reject samples</h3>" + _table(data["reject_samples"], ["step", "reason", "bn", "en"],
                                                       "samples"))
    return "".join(parts)


def _section_training(report: dict) -> str:
    training = report.get("training") if isinstance(report.get("training"), dict) else {}
    if not training:
        return ""
    info = {k: training.get(k) for k in ("preset", "model_type", "parameters", "best_checkpoint", "best_metric",
                                           "tokens_per_second") if training.get(k) is not None}
    parts = [_kv(info)] if info else []
    hp = training.get("hyperparameters")
    if isinstance(hp, dict) and hp:
        parts.append("<h3>Hyperparameters</h3>" + _kv(hp))
    history = [h for h in training.get("log_history") or [] if isinstance(h, dict)]

    def series(key):
        pts = [(_num(h.get("step", h.get("epoch"))), _num(h.get(key))) for h in history]
        return [(x, y) for x, y in pts if x is not None and y is not None]

    loss, eval_loss = series("loss"), series("eval_loss")
    chrf = series("eval_chrf") or series("eval_chrF") or series("eval_chrf++")
    bleu = series("eval_bleu")
    if loss or eval_loss:
        def draw(fig):
            ax = fig.subplots()
            if loss:
                ax.plot(*zip(*loss), color=COLORS["en"], label="train loss")
            if eval_loss:
                ax.plot(*zip(*eval_loss), "o-", color=COLORS["bn"], label="dev loss")
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title("Training and dev loss")
            ax.legend(fontsize=8)

        parts.append(_img(_plot(draw), "Training and dev loss"))
    if chrf or bleu:
        def draw_scores(fig):
            ax = fig.subplots()
            if chrf:
                ax.plot(*zip(*chrf), "o-", color=COLORS["bn"], label="dev chrF")
            if bleu:
                ax.plot(*zip(*bleu), "s--", color=COLORS["other"], label="dev BLEU")
            ax.set_xlabel("step")
            ax.set_ylabel("score")
            ax.set_title("Dev scores during training")
            ax.legend(fontsize=8)

        parts.append(_img(_plot(draw_scores), "Dev chrF / BLEU during training"))
    return "".join(parts)


def _section_evaluation(report: dict) -> str:
    evaluation = report.get("evaluation") if isinstance(report.get("evaluation"), dict) else {}
    rows, sigs = [], []
    for direction, scores in evaluation.items():
        if not isinstance(scores, dict):
            continue
        rows.append({"direction": direction, **{k: scores.get(k) for k in ("chrf", "chrf++", "bleu", "n", "backend",
                                                                           "num_beams")}})
        for metric, sig in (scores.get("signatures") or {}).items():
            sigs.append({"direction": direction, "metric": metric, "sacreBLEU signature": sig})
    if not rows:
        return ""
    parts = [_table(rows, ["direction", "chrf", "chrf++", "bleu", "n", "backend", "num_beams"])]

    def draw(fig):
        ax = fig.subplots()
        metrics = ["chrf", "chrf++", "bleu"]
        width = 0.8 / len(metrics)
        for i, m in enumerate(metrics):
            ax.bar([j + i * width for j in range(len(rows))], [_num(r.get(m)) or 0 for r in rows], width, label=m)
        ax.set_xticks([j + width for j in range(len(rows))], [r["direction"] for r in rows])
        ax.set_ylabel("score")
        ax.set_title("Test scores (chrF / chrF++ are primary for en→bn)")
        ax.legend(fontsize=8)

    parts.append(_img(_plot(draw, 6.5, 3.4), "Evaluation scores per direction"))
    if sigs:
        parts.append("<h3>sacreBLEU signatures</h3>" + _table(sigs, cls="sigs"))
    return "".join(parts)


SPEED_KEY = re.compile(r"(per_s(ec(ond)?)?|/s|_ps$|throughput|speed|latency|_ms$|seconds)", re.I)


def _section_export(report: dict) -> str:
    export = report.get("export") if isinstance(report.get("export"), dict) else {}
    rows = []
    for kind, info in export.items():
        if isinstance(info, dict):
            flat = {"export": kind}
            for k, v in info.items():
                flat[k] = v if not isinstance(v, dict) else json.dumps(v, ensure_ascii=False)
            rows.append(flat)
    if not rows:
        return ""
    parts = [_table(rows)]
    speed_keys = sorted({k for r in rows for k, v in r.items() if SPEED_KEY.search(k) and _num(v) is not None
                         and not isinstance(v, bool)})
    if speed_keys:
        def draw(fig):
            axes = fig.subplots(1, len(speed_keys), squeeze=False)[0]
            for ax, key in zip(axes, speed_keys):
                pts = [(r["export"], _num(r.get(key))) for r in rows if _num(r.get(key)) is not None]
                ax.bar([p[0] for p in pts], [p[1] for p in pts], color=COLORS["other"])
                ax.set_title(key, fontsize=9)
                ax.tick_params(axis="x", labelrotation=20, labelsize=8)
            fig.suptitle("Export speed")

        parts.append(_img(_plot(draw, max(5, 3.2 * len(speed_keys)), 3.2), "Export speed"))
    parity = [(r["export"], _num(r.get("identical"))) for r in rows if _num(r.get("identical")) is not None]
    if parity:
        def draw_parity(fig):
            ax = fig.subplots()
            ax.bar([p[0] for p in parity], [p[1] for p in parity],
                   color=[COLORS["kept"] if (p[1] or 0) >= 0.99 else COLORS["dropped"] for p in parity])
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("share of outputs identical to PyTorch")
            ax.set_title("Export parity")

        parts.append(_img(_plot(draw_parity, 5.5, 3.2), "Export parity (identical outputs)"))
    return "".join(parts)


CSS = """
body{font-family:"Noto Sans","Noto Sans Bengali","DejaVu Sans",sans-serif;margin:2em auto;max-width:1100px;
 color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;
 text-align:left;vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv td:first-child{font-weight:600}table.samples td{max-width:420px}table.sigs td{font-family:monospace;font-size:.85em}
figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#666}
.warn{color:#a00;font-weight:600}.note{color:#666;font-style:italic}nav a{margin-right:1em}
footer{margin-top:3em;font-size:.8em;color:#777}
"""


def render_html(report: dict, data: dict, title: str) -> str:
    funnel, dedup = _section_funnel(report)
    sections = [
        ("run", "Run", _section_run(report)),
        ("sources", "Sources", _section_sources(report, data)),
        ("funnel", "Filter funnel", funnel),
        ("dedup", "Deduplication", dedup),
        ("dataset", "Dataset", _section_dataset(data)),
        ("training", "Training", _section_training(report)),
        ("evaluation", "Evaluation", _section_evaluation(report)),
        ("export", "Export", _section_export(report)),
    ]
    present = [(sid, name, body) for sid, name, body in sections if body]
    nav = "".join(f"<a href=\"#{sid}\">{html.escape(name)}</a>" for sid, name, _ in present)
    body = "".join(f"<section id=\"{sid}\"><h2>{html.escape(name)}</h2>{content}</section>"
                   for sid, name, content in present)
    skipped = [name for _, name, content in sections if not content]
    font = bengali_font()
    from bilingual import __version__

    notes = []
    if skipped:
        notes.append("No data for: " + ", ".join(skipped) + ".")
    notes.append(f"Plot font for Bengali: {html.escape(os.path.basename(font))}." if font else
                 f"No Bengali font was found for the plots ({html.escape(FONT_INSTALL_HINT)}).")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>{body}"
        f"<footer>{' '.join(notes)} Written by bilingual {html.escape(__version__)} at "
        f"{datetime.now().astimezone().isoformat(timespec='seconds')}.</footer></body></html>\n"
    )


def write_report(run_dir) -> Path:
    """Write `run_dir/report.html` from `run_dir/report.json` (and `run_dir/dataset/` Parquet where present)."""
    from bilingual.storage import write_text

    run_dir = Path(run_dir)
    path = run_dir / REPORT_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no report.json in the run folder")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(report, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    data = dataset_stats(run_dir)
    title = f"bilingual run report — {Path(report.get('run_dir') or run_dir).name}"
    return write_text(run_dir / REPORT_HTML, render_html(report, data, title))


def main(argv: Optional[list[str]] = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="bilingual report",
                                description="Write report.html beside a run's report.json (static, offline).")
    p.add_argument("run_dir", help="run folder holding report.json (and dataset/ Parquet)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    out = write_report(args.run_dir)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
