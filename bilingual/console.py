"""Progress bars and end-of-command summaries, shared by every command.

`--quiet` (or BILINGUAL_QUIET=1) turns bars, detail tables (filter funnels) and third-party warnings off for
logs; the one end-of-command summary is always printed.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Optional, Sequence

from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

console = Console(stderr=False, highlight=False)


def quiet() -> bool:
    return os.environ.get("BILINGUAL_QUIET", "") not in ("", "0")


THIRD_PARTY_LOGGERS = ("transformers", "optimum", "onnxruntime", "onnx", "torch", "datasets", "huggingface_hub",
                       "ctranslate2", "accelerate")


def set_quiet(value: bool) -> None:
    """Quiet our bars, the `datasets` ones (split generation, map) and third-party chatter in one place: Python
    warnings (TracerWarning, deprecations) and the warnings transformers/optimum log ("missing keys ...",
    "Could not find ONNX initializer", "`torch_dtype` is deprecated"). Our own warnings and errors still show."""
    if value:
        import logging
        import warnings

        os.environ["BILINGUAL_QUIET"] = "1"
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("PYTHONWARNINGS", "ignore")  # child processes too
        warnings.filterwarnings("ignore")
        for name in THIRD_PARTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        import datasets

        datasets.disable_progress_bars()


def progress(iterable: Optional[Iterable] = None, desc: str = "", total: Optional[int] = None, unit: str = "it"):
    """A tqdm bar (counts and rate) unless quiet."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=quiet(), dynamic_ncols=True, leave=False)


def summary(title: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Print a short table: a mapping gives two columns (what, value); a list of mappings one row each."""
    table = Table(title=title, title_justify="left")
    if isinstance(rows, Mapping):
        table.add_column("what")
        table.add_column("value", justify="right")
        for key, value in rows.items():
            table.add_row(str(key), _fmt(value))
    else:
        rows = list(rows)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        for col in columns:
            table.add_column(str(col), justify="right" if rows and isinstance(rows[0].get(col), (int, float)) else "left")
        for row in rows:
            table.add_row(*(_fmt(row.get(col, "")) for col in columns))
    console.print(table)


def detail(title: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """A table that helps a person watching (a filter funnel) but is not the command's summary: off when quiet."""
    if not quiet():
        summary(title, rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
