"""The report's charts: matplotlib figures returned as PNG data URIs, so report.html needs no other file.

Bengali in plots: matplotlib has no complex-script shaping, so plot labels use only Bengali words that need
none (e.g. "বাংলা"); real Bengali sentences (reject samples) go in HTML tables, which the browser shapes. A font
with Bengali glyphs is registered with matplotlib by path (Debian: fonts-noto-core, or fonts-beng /
fonts-lohit-beng-bengali); without one the report still renders and says so. matplotlib is the `plots` extra.
"""

from __future__ import annotations

import base64
import glob
import io
import logging
import os
from typing import Any, Callable, Optional, Sequence

from bilingual.reporting.data import num

log = logging.getLogger("bilingual.reporting")

BENGALI_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSansBengali-Regular.ttf",        # fonts-noto-core
    "/usr/share/fonts/truetype/noto/NotoSansBengaliUI-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansBengali-Regular.otf",
    "/usr/share/fonts/truetype/lohit-bengali/Lohit-Bengali.ttf",          # fonts-lohit-beng-bengali
    "/usr/share/fonts/truetype/fonts-beng-extra/MuktiNarrow.ttf",         # fonts-beng-extra
    "/usr/share/fonts/truetype/freefont/FreeSerif.ttf",                   # fonts-freefont-ttf (has Bengali)
)
FONT_INSTALL_HINT = "apt-get install fonts-noto-core (or fonts-beng)"
BN_LABEL = "bn (বাংলা)"
EN_LABEL = "en (English)"
COLORS = {"bn": "#d95f02", "en": "#1b9e77", "kept": "#1b9e77", "dropped": "#d95f02", "other": "#7570b3"}

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


def plot(draw: Callable, width: float = 7.0, height: float = 3.6) -> str:
    """Run `draw(fig)` on a new figure and return it as a PNG data URI."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(width, height), layout="constrained")
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


def bars(items: Sequence[tuple[str, float]], title: str, xlabel: str, color: str = COLORS["other"],
         shares: bool = False) -> str:
    """Horizontal bars, first item on top; with `shares` each bar is labelled with its count and share."""
    def draw(fig):
        ax = fig.subplots()
        drawn = ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=color)
        if shares:
            total = sum(v for _, v in items) or 1
            for bar, (_, v) in zip(drawn, items[::-1]):
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,.0f} ({100 * v / total:.0f}%)",
                        va="center", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title(title)

    return plot(draw, 7.5, 0.8 + 0.35 * len(items))


def funnel(names: list[str], kept: list[float], dropped: list[float]) -> str:
    def draw(fig):
        ax = fig.subplots()
        y = list(range(len(names)))[::-1]
        ax.barh(y, kept, color=COLORS["kept"], label="kept")
        ax.barh(y, dropped, left=kept, color=COLORS["dropped"], label="dropped")
        ax.set_yticks(y, names)
        ax.set_xlabel("records")
        ax.set_title("Filter funnel (records entering each step)")
        ax.legend(loc="lower right", fontsize=8)

    return plot(draw, 7.5, 0.9 + 0.4 * len(names))


def lengths(chars: dict, words: dict) -> str:
    def draw(fig):
        axes = fig.subplots(1, 2)
        for ax, series, unit in ((axes[0], chars, "characters"), (axes[1], words, "words")):
            for lang, label in (("bn", BN_LABEL), ("en", EN_LABEL)):
                _hist(ax, series.get(lang, []), alpha=0.6, color=COLORS[lang], label=label, integer=True)
            ax.set_xlabel(f"length ({unit})")
            ax.set_ylabel("pairs")
            ax.legend(fontsize=8)
        fig.suptitle("Sentence length per language")

    return plot(draw, 9, 3.6)


def length_ratio(ratios: list[float]) -> str:
    def draw(fig):
        ax = fig.subplots()
        _hist(ax, ratios, bins=50, color=COLORS["other"])
        ax.set_xlabel("length ratio bn/en (characters)")
        ax.set_ylabel("pairs")
        ax.set_title("Length ratio বাংলা / English")

    return plot(draw)


def lid_confidence(lid: dict[str, list[float]]) -> str:
    def draw(fig):
        ax = fig.subplots()
        for column, values in lid.items():
            lang = "bn" if "bn" in column.lower() else "en" if "en" in column.lower() else "other"
            ax.hist(values, bins=40, range=(0, 1), alpha=0.6, color=COLORS[lang], label=column)
        ax.set_xlabel("language-ID probability (fastText lid.176)")
        ax.set_ylabel("pairs")
        ax.set_title("Language-ID confidence")
        ax.legend(fontsize=8)

    return plot(draw)


def curves(series: dict[str, list[tuple[float, float]]], title: str, ylabel: str) -> str:
    """Lines over training steps: {label: [(step, value)]}; labels starting 'dev' are drawn with markers."""
    styles = {0: ("-", COLORS["en"]), 1: ("o-", COLORS["bn"]), 2: ("s--", COLORS["other"])}

    def draw(fig):
        ax = fig.subplots()
        for i, (label, points) in enumerate(series.items()):
            style, color = styles[i % 3]
            ax.plot(*zip(*points), style, color=color, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)

    return plot(draw)


def scores(rows: list[dict], metrics: Sequence[str] = ("chrf", "chrf++", "bleu")) -> str:
    def draw(fig):
        ax = fig.subplots()
        width = 0.8 / len(metrics)
        for i, m in enumerate(metrics):
            ax.bar([j + i * width for j in range(len(rows))], [num(r.get(m)) or 0 for r in rows], width, label=m)
        ax.set_xticks([j + width for j in range(len(rows))], [r["direction"] for r in rows])
        ax.set_ylabel("score")
        ax.set_title("Test scores (chrF / chrF++ are primary for en→bn)")
        ax.legend(fontsize=8)

    return plot(draw, 6.5, 3.4)


def speeds(rows: list[dict], keys: list[str]) -> str:
    def draw(fig):
        axes = fig.subplots(1, len(keys), squeeze=False)[0]
        for ax, key in zip(axes, keys):
            pts = [(r["export"], num(r.get(key))) for r in rows if num(r.get(key)) is not None]
            ax.bar([p[0] for p in pts], [p[1] for p in pts], color=COLORS["other"])
            ax.set_title(key, fontsize=9)
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        fig.suptitle("Export speed")

    return plot(draw, max(5, 3.2 * len(keys)), 3.2)


def parity(points: list[tuple[str, float]]) -> str:
    def draw(fig):
        ax = fig.subplots()
        ax.bar([p[0] for p in points], [p[1] for p in points],
               color=[COLORS["kept"] if (p[1] or 0) >= 0.99 else COLORS["dropped"] for p in points])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of outputs identical to PyTorch")
        ax.set_title("Export parity")

    return plot(draw, 5.5, 3.2)
