"""The run report: a shape-correct report.json and a small Parquet dataset built from the bundled Tatoeba
sample, rendered to report.html and opened in headless Chromium (every image must load)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SAMPLES

TATOEBA = SAMPLES / "parallel" / "tatoeba-ben-eng.tsv"

from bilingual.reporting import plots as report_mod
from bilingual.reporting.html import write_report
from bilingual.reporting.plots import bengali_font

CHROMIUM_HINT = "headless Chromium is needed: apt-get install -y chromium"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(CHROMIUM_HINT)


def make_run(run_dir: Path) -> dict:
    """A run folder whose dataset and corpus section are what the product writes: a real `bilingual filter`
    run of the default recipe over the bundled Tatoeba sample (kept-*.parquet, rejects/ with reject_step and
    reject_reason, stats.json); the later stages' sections are written in their documented shape."""
    from bilingual.cli import main as bilingual
    from bilingual.layout import DEFAULT_FILTER_RECIPE

    assert bilingual(["--quiet", "filter", "--recipe", str(DEFAULT_FILTER_RECIPE), "--input", str(TATOEBA),
                      "--output-dir", str(run_dir / "dataset")]) == 0
    corpus = json.loads((run_dir / "dataset" / "stats.json").read_text(encoding="utf-8"))

    log_history = []
    for step in range(10, 210, 10):
        log_history.append({"step": step, "epoch": step / 100, "loss": 6.0 * 0.98 ** step + 1.0, "learning_rate": 5e-4})
        if step % 50 == 0:
            log_history.append({"step": step, "epoch": step / 100, "eval_loss": 5.5 * 0.985 ** step + 1.2,
                                "eval_chrf": 10 + step / 10, "eval_bleu": 1 + step / 50})
    sig = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.3"
    report = {
        "run_dir": str(run_dir), "started_at": "2026-11-26T06:00:00+00:00", "finished_at": "2026-11-26T06:12:30+00:00",
        "versions": {"bilingual": "0.1.0", "transformers": "4.57.6", "torch": "2.13.0"},
        "stages": [{"name": "collect", "seconds": 12.5, "records_in": 4700, "records_out": 4650},
                   {"name": "build", "seconds": 30.1, "records_in": 4650, "records_out": 600},
                   {"name": "train", "seconds": 300.0, "records_in": 540, "records_out": None},
                   {"name": "evaluate", "seconds": 20.0, "records_in": None, "records_out": None}],
        "sources": [{"source": "tatoeba", "license": "CC-BY 2.0 FR", "read": 4642, "kept": 480, "quarantined": 2,
                     "status": "ok"},
                    {"source": "tico19", "license": "CC0", "read": 3071, "kept": 120, "quarantined": 0, "status": "ok"}],
        "corpus": corpus,
        "tokenizer": {"vocab_size": 8000, "path": "tokenizer"},
        "training": {"preset": "tiny", "model_type": "marian", "parameters": 1_234_567,
                     "hyperparameters": {"learning_rate": 5e-4, "batch_size": 32, "max_steps": 200},
                     "log_history": log_history, "best_checkpoint": "checkpoint-200", "best_metric": 30.0,
                     "tokens_per_second": 1234.5},
        "evaluation": {
            "en-bn": {"bleu": 3.1, "chrf": 25.4, "chrf++": 23.9, "n": 60, "backend": "onnx", "num_beams": 4,
                      "signatures": {"bleu": "BLEU|" + sig, "chrf": "chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no",
                                     "chrf++": "chrF2++|nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no"}},
            "bn-en": {"bleu": 5.2, "chrf": 28.0, "chrf++": 26.1, "n": 60, "backend": "onnx", "num_beams": 4,
                      "signatures": {"bleu": "BLEU|" + sig}}},
        "export": {"onnx": {"dir": "model/onnx", "identical": 1.0, "n": 60, "passed": True,
                            "sentences_per_second": 41.0, "speedup": 1.8},
                   "onnx_int8": {"dir": "model/onnx-int8", "identical": 0.93, "n": 60, "passed": True,
                                 "sentences_per_second": 63.0, "speedup": 2.7}},
    }
    (run_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var d = document.createElement('div'); d.id = 'ux-check';
  d.textContent = 'UXCHECK images=' + imgs.length + ' loaded=' + ok + ' sections=' +
    document.querySelectorAll('section').length + ' END';
  document.body.appendChild(d);
});
</script>"""


def run_chromium(args: list[str], tmp: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    report = make_run(run_dir)
    path = write_report(run_dir)
    return run_dir, report, path


def test_report_html_has_every_section_and_is_self_contained(rendered):
    run_dir, report, path = rendered
    assert path == run_dir / "report.html"
    text = path.read_text(encoding="utf-8")
    for section in ("run", "sources", "funnel", "dedup", "dataset", "training", "evaluation", "export"):
        assert f'<section id="{section}">' in text, section
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) >= 10 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    # numbers and signatures from report.json, reject reasons and samples from the Parquet
    assert report["evaluation"]["en-bn"]["signatures"]["bleu"] in text
    corpus = report["corpus"]
    for step in corpus["steps"]:
        for reason, n in step["reasons"].items():
            assert f"{reason}: {n:,}" in text or f"{reason}: {n}" in text, (step["step"], reason)
    assert f"{corpus['kept']:,}" in text and "pairs in dataset" in text
    assert "lid_bn_prob" in text


def _table_rows(text: str, heading: str) -> list[list[str]]:
    table = text.split(f"<h3>{heading}</h3>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
            if "<td" in row]


def test_rejects_tables_name_the_step_and_agree_with_the_funnel(rendered):
    """Each reject row's step and reason come from the rejects Parquet the filter wrote, and per step the rows
    there add up to the funnel's dropped count (the two tables agree)."""
    _, report, path = rendered
    text = path.read_text(encoding="utf-8")
    rows = _table_rows(text, "Rejects Parquet")
    assert rows and all(step != "?" and reason != "?" for step, reason, _ in rows), rows
    per_step: dict = {}
    for step, reason, n in rows:
        per_step[step] = per_step.get(step, 0) + int(n.replace(",", ""))
    dropped = {s["step"]: s["dropped"] for s in report["corpus"]["steps"] if s["dropped"]}
    assert per_step == dropped
    samples = _table_rows(text, "Reject samples")
    assert samples and all(r[0] in dropped for r in samples)


def test_missing_sections_are_skipped_not_fatal(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"run_dir": str(tmp_path), "stages": [],
                                                      "evaluation": {"en-bn": {"chrf": 12.0}}}))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert '<section id="evaluation">' in text and '<section id="training">' not in text
    assert "No data for:" in text
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(ValueError, match="report.json"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "nowhere")


def test_bengali_font_is_installed_and_registered():
    from matplotlib import font_manager

    path = bengali_font()
    assert path, f"no Bengali font for the plots: {report_mod.FONT_INSTALL_HINT}"
    font = font_manager.FontProperties(fname=path)
    from matplotlib.ft2font import FT2Font

    ft = FT2Font(path)
    assert ft.get_char_index(ord("ব")) != 0 and ft.get_char_index(ord("া")) != 0  # glyphs, not tofu
    assert font.get_name() in {f.name for f in font_manager.fontManager.ttflist}


def test_report_renders_in_headless_chromium_with_every_image_loaded(rendered, tmp_path):
    run_dir, _, path = rendered
    text = path.read_text(encoding="utf-8")
    n_images = len(re.findall(r"<img ", text))
    check = tmp_path / "check.html"
    check.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    result = run_chromium(["--virtual-time-budget=10000", "--dump-dom", check.as_uri()], tmp_path)
    m = re.search(r"UXCHECK images=(\d+) loaded=(\d+) sections=(\d+) END", result.stdout)
    assert m, f"chromium did not render the page (rc={result.returncode}): {result.stderr[-2000:]}"
    images, loaded, sections = map(int, m.groups())
    assert images == n_images and loaded == images, m.group(0)
    assert sections == 8
    # a screenshot too (kept beside the report for a human to look at)
    shot = run_dir / "report.png"
    result = run_chromium(["--window-size=1200,2400", "--hide-scrollbars", f"--screenshot={shot}", path.as_uri()],
                          tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000, result.stderr[-2000:]
