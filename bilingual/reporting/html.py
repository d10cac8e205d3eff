"""`bilingual report RUN_DIR`: report.html beside a run's report.json, readable offline at a glance.

Sections (each only when its data exists): run and stage timings, source mix, the filter funnel with reject
reasons, dedup counts, length / length-ratio histograms and language-ID confidence from the dataset Parquet,
reject samples, training and dev curves, evaluation scores with sacreBLEU signatures, export parity and speed.
Everything shown was written by the stages (`bilingual.reporting.data`); charts come from
`bilingual.reporting.plots` as embedded PNGs, so the file needs no network and no other file.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Optional

from bilingual.layout import REPORT_HTML, public_name
from bilingual.reporting import plots
from bilingual.reporting.data import corpus_steps, dataset_stats, load_report, num


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
            is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class=\"{'num' if is_num else ''}\">{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"{cls}\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(mapping: dict) -> str:
    return _table([{"what": k, "value": v} for k, v in mapping.items()], ["what", "value"], "kv")


def _img(uri: str, alt: str) -> str:
    return f"<figure><img src=\"{uri}\" alt=\"{html.escape(alt)}\"><figcaption>{html.escape(alt)}</figcaption></figure>"


# ---------------------------------------------------------------- sections

def _section_run(report: dict) -> str:
    info = {key: report[key] for key in ("run_dir", "started_at", "finished_at") if report.get(key)}
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
        timed = [(str(s.get("name", "?")), num(s.get("seconds")) or 0.0) for s in stages]
        parts.append(_img(plots.bars(timed, "Time per stage", "seconds"), "Time per stage"))
    return "".join(parts)


def _section_sources(report: dict, data: dict) -> str:
    sources = [s for s in report.get("sources") or [] if isinstance(s, dict)]
    mix = {str(s.get("source")): num(s.get("kept")) or 0 for s in sources if s.get("source")}
    basis = "kept records per source (report.json)"
    if not any(mix.values()) and data.get("sources"):
        mix, basis = data["sources"], "pairs per source in the dataset"
    parts = []
    if sources:
        parts.append(_table(sources, ["source", "license", "read", "kept", "quarantined", "status"]))
    if any(mix.values()):
        items = sorted(mix.items(), key=lambda kv: -kv[1])
        parts.append(_img(plots.bars(items, f"Source mix: {basis}", "records", plots.COLORS["kept"], shares=True),
                          f"Source mix: {basis}"))
    return "".join(parts)


def _section_funnel(report: dict) -> tuple[str, str]:
    corpus = report.get("corpus") if isinstance(report.get("corpus"), dict) else {}
    steps = corpus_steps(report)
    parts, dedup = [], []
    totals = {k: corpus.get(k) for k in ("in", "kept", "rejected") if corpus.get(k) is not None}
    if isinstance(corpus.get("splits"), dict):
        totals.update({f"split {k}": v for k, v in corpus["splits"].items()})
    if totals:
        parts.append(_kv(totals))
        i, k, r = (num(totals.get(x)) for x in ("in", "kept", "rejected"))
        if None not in (i, k, r) and abs(i - (k + r)) > 0.5:
            parts.append(f"<p class=\"warn\">in ({i:,.0f}) ≠ kept ({k:,.0f}) + rejected ({r:,.0f}): "
                         f"{i - k - r:,.0f} records unaccounted for.</p>")
    if steps:
        names = [str(s.get("step", f"step {n}")) for n, s in enumerate(steps)]
        kept = [num(s.get("kept")) or 0 for s in steps]
        dropped = [num(s.get("dropped")) or 0 for s in steps]
        parts.append(_img(plots.funnel(names, kept, dropped), "Filter funnel per step"))
        rows = []
        for s in steps:
            reasons = s.get("reasons") if isinstance(s.get("reasons"), dict) else {}
            top = ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}"
                            for k, v in sorted(reasons.items(), key=lambda kv: -(num(kv[1]) or 0)))
            rows.append({"step": s.get("step"), "in": s.get("in"), "kept": s.get("kept"), "dropped": s.get("dropped"),
                         "seconds": s.get("seconds"), "reasons": top or "–"})
            if "dup" in str(s.get("step", "")).lower():
                dedup.append({"step": s.get("step"), "in": s.get("in"), "duplicates removed": s.get("dropped"),
                              **{f"reason: {k}": v for k, v in reasons.items()}})
        parts.append(_table(rows, ["step", "in", "kept", "dropped", "seconds", "reasons"]))
        reason_items = sorted(((f"{s.get('step')}: {why}", num(n) or 0) for s in steps
                               for why, n in (s.get("reasons") or {}).items() if isinstance(s.get("reasons"), dict)),
                              key=lambda kv: -kv[1])[:25]
        if reason_items:
            parts.append(_img(plots.bars(reason_items, "Reject reasons", "records rejected", plots.COLORS["dropped"]),
                              "Reject reasons"))
    return "".join(parts), _table(dedup) if dedup else ""


def _section_dataset(data: dict) -> str:
    if not data:
        return ""
    info = {"pairs in dataset": data.get("kept_rows", 0)}
    if data.get("rows_read", 0) < data.get("kept_rows", 0):
        info["pairs used for the plots"] = data["rows_read"]
    for split, n in sorted(data.get("splits", {}).items()):
        info[f"split {split}"] = n
    if data.get("lid_columns"):
        info["language-ID columns"] = ", ".join(data["lid_columns"])
    if "rejects_total" in data:
        info["rejected rows (rejects Parquet)"] = data["rejects_total"]
    parts = [_kv(info)]
    if any(data.get("lengths", {}).values()):
        parts.append(_img(plots.lengths(data["lengths"], data.get("words", {})),
                          "Sentence length per language (bn বাংলা, en)"))
    if data.get("ratios"):
        parts.append(_img(plots.length_ratio(data["ratios"]), "Length ratio bn/en"))
    lid = {c: v for c, v in (data.get("lid") or {}).items() if v}
    if lid:
        parts.append(_img(plots.lid_confidence(lid), "Language-ID confidence"))
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
    if info.get("best_checkpoint"):
        info["best_checkpoint"] = public_name(info["best_checkpoint"])
    parts = [_kv(info)] if info else []
    hp = training.get("hyperparameters")
    if isinstance(hp, dict) and hp:
        parts.append("<h3>Hyperparameters</h3>" + _kv(hp))
    history = [h for h in training.get("log_history") or [] if isinstance(h, dict)]

    def series(key):
        pts = [(num(h.get("step", h.get("epoch"))), num(h.get(key))) for h in history]
        return [(x, y) for x, y in pts if x is not None and y is not None]

    losses = {label: pts for label, pts in (("train loss", series("loss")), ("dev loss", series("eval_loss"))) if pts}
    if losses:
        parts.append(_img(plots.curves(losses, "Training and dev loss", "loss"), "Training and dev loss"))
    dev = {label: pts for label, pts in (("dev chrF", series("eval_chrf")), ("dev BLEU", series("eval_bleu"))) if pts}
    if dev:
        parts.append(_img(plots.curves(dev, "Dev scores during training", "score"), "Dev chrF / BLEU during training"))
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
    parts = [_table(rows, ["direction", "chrf", "chrf++", "bleu", "n", "backend", "num_beams"]),
             _img(plots.scores(rows), "Evaluation scores per direction")]
    if sigs:
        parts.append("<h3>sacreBLEU signatures</h3>" + _table(sigs, cls="sigs"))
    return "".join(parts)


SPEED_KEY = re.compile(r"(per_s(ec(ond)?)?|/s|_ps$|throughput|speed|latency|_ms$|seconds)", re.I)


def _section_export(report: dict) -> str:
    export = report.get("export") if isinstance(report.get("export"), dict) else {}
    rows = []
    for kind, info in export.items():
        if isinstance(info, dict):
            rows.append({"export": kind, **{k: v if not isinstance(v, dict) else json.dumps(v, ensure_ascii=False)
                                            for k, v in info.items()}})
    if not rows:
        return ""
    parts = [_table(rows)]
    speed_keys = sorted({k for r in rows for k, v in r.items() if SPEED_KEY.search(k) and num(v) is not None
                         and not isinstance(v, bool)})
    if speed_keys:
        parts.append(_img(plots.speeds(rows, speed_keys), "Export speed"))
    parity = [(r["export"], num(r.get("identical"))) for r in rows if num(r.get("identical")) is not None]
    if parity:
        parts.append(_img(plots.parity(parity), "Export parity (identical outputs)"))
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
    font = plots.bengali_font()
    from bilingual import __version__

    notes = []
    if skipped:
        notes.append("No data for: " + ", ".join(skipped) + ".")
    notes.append(f"Plot font for Bengali: {html.escape(os.path.basename(font))}." if font else
                 f"No Bengali font was found for the plots ({html.escape(plots.FONT_INSTALL_HINT)}).")
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
    report = load_report(run_dir)
    title = f"bilingual run report — {Path(report.get('run_dir') or run_dir).name}"
    return write_text(run_dir / REPORT_HTML, render_html(report, dataset_stats(run_dir), title))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="bilingual report", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("run_dir", type=Path, help="run folder holding report.json (and dataset/ Parquet)")
    p.add_argument("--quiet", action="store_true", help="print only the path written")
    args = p.parse_args(argv)
    out = write_report(args.run_dir)
    print(out)
    return 0
