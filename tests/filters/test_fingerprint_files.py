"""A filter run resumes from a failed run's work folder only when nothing that decides the result changed,
including the contents of files the recipe's steps name (here an eval set): an edit that keeps the file's size
and mtime is not answered with chunk results computed from the old contents, and a file only touched still
lets the rerun resume."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[2]
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"

# the real filter run (Pipeline.run_files, what `bilingual filter` calls) with an artifacts folder of our choice:
# a regular file there makes the perplexity stage fail after the eval_overlap stage has recorded its chunks
RUN = """
import json, sys
from bilingual.filters.pipeline import Pipeline
recipe, out, artifacts, pairs = sys.argv[1:]
stats = Pipeline.from_recipe(recipe, chunk_rows=100, artifacts_dir=artifacts).run_files([pairs], out, quiet=True)
print(json.dumps(stats["resumed"]))
"""


def _run(tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, str(tmp / "recipe.yaml"), str(tmp / "out"),
                           str(tmp / "artifacts"), str(tmp / "pairs.tsv")],
                          env=dict(os.environ, PYTHONPATH=str(REPO), BILINGUAL_QUIET="1"), cwd=tmp,
                          capture_output=True, text=True)


def _failed_run(tmp: Path) -> None:
    shutil.rmtree(tmp / "artifacts", ignore_errors=True)  # what the last good run wrote there
    (tmp / "artifacts").write_text("a file where the artifacts folder should be")
    r = _run(tmp)
    assert r.returncode != 0 and "artifacts" in r.stderr, r.stderr[-2000:]
    assert list(tmp.glob(".out.work-*/work/stage-0/stage.json"))  # the eval_overlap stage finished
    (tmp / "artifacts").unlink()


def _eval_line(row: list[str], width: int) -> str:
    line = f"{row[0]}\t{row[1]}\t"
    return line + "x" * (width - len(line.encode())) + "\n"


def _eval_rejects(out: Path) -> set[str]:
    rows = [r for f in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {r["en"] for r in rows if r["reject_step"] == "eval_overlap"}


def test_edited_named_file_is_not_answered_with_old_chunks_and_a_touched_one_resumes(tmp_path):
    rows = [line.split("\t") for line in TATOEBA.read_text(encoding="utf-8").splitlines()]
    pairs, train = rows[1000:1300], rows[2000:2600]
    (tmp_path / "pairs.tsv").write_text("".join("\t".join(r) + "\n" for r in pairs), encoding="utf-8")
    (tmp_path / "train.bn").write_text("".join(r[1] + "\n" for r in train), encoding="utf-8")
    (tmp_path / "train.en").write_text("".join(r[0] + "\n" for r in train), encoding="utf-8")
    a, b = pairs[10], pairs[250]
    assert a[0] != b[0]
    evals = tmp_path / "eval.tsv"
    evals.write_text(_eval_line(a, 400), encoding="utf-8")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({"name": "t", "steps": [
        {"step": "eval_overlap", "eval_sets": ["eval.tsv"]},  # relative: read from the run's folder
        {"step": "perplexity", "train_files": {"bn": ["train.bn"], "en": ["train.en"]}}]}), encoding="utf-8")

    _failed_run(tmp_path)
    st = evals.stat()
    evals.write_text(_eval_line(b, 400), encoding="utf-8")  # another pair: same size, and the same mtime
    os.utime(evals, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert evals.stat().st_size == st.st_size
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1])["reused"] == 0
    assert _eval_rejects(tmp_path / "out") == {b[0]}
    assert not list(tmp_path.glob(".out.work-*"))

    _failed_run(tmp_path)
    os.utime(evals, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: contents unchanged
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1])["reused"] == 3  # the eval_overlap stage's three chunks
    assert _eval_rejects(tmp_path / "out") == {b[0]}


def test_option_words_never_name_a_folder_of_the_working_directory(tmp_path, monkeypatch):
    """`keys: [bn, en]` or `unit: word` are options, not paths: a folder `en/` where filter runs is not hashed."""
    from bilingual.filters.stages import named_file_digests

    monkeypatch.chdir(tmp_path)
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "big.txt").write_text("x")
    (tmp_path / "trusted.tsv").write_text("a\tb\n")
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "eval.en").write_text("c\n")
    found = named_file_digests([["exact_dedup", {"keys": ["bn", "en"]}],
                                ["adequacy", {"trusted": ["trusted.tsv"], "widen": ["sets/eval.en,sets/eval.en"]}]])
    assert sorted(Path(f).name for f in found) == ["eval.en", "trusted.tsv"]
