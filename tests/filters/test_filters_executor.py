"""The local executor on the bundled pairs with the default recipe: results independent of chunk size
and process count, a recipe that rejects everything early, parameters refused before work, and a
killed `filter` rerun that never leaves new shards beside an old stats.json."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from bilingual.commands.filter import main as filter_main
from bilingual.filters.pipeline import Pipeline, RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "recipes" / "filters" / "default.yaml"


def _inputs(samples):
    par = samples / "parallel"
    return [str(par / "tatoeba-ben-eng.tsv"), str(par / "tico19-all.en-bn.tmx")]


def _outputs(folder: Path):
    kept = [i for f in sorted(folder.glob("kept-*.parquet")) for i in pq.read_table(f).column("id").to_pylist()]
    rejects = []  # (id, step, reason) in row order (ids of the bundled TMX are not all unique)
    for f in sorted((folder / "rejects").glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "reject_step", "reject_reason"])
        rejects += list(zip(*(t.column(c).to_pylist() for c in t.column_names)))
    return kept, rejects, json.loads((folder / "stats.json").read_text())


def _funnel(stats):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in stats["steps"]]


@pytest.fixture(scope="module")
def default_run(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("default") / "out"
    assert filter_main(["--recipe", str(DEFAULT), "--input", *_inputs(samples), "--output-dir", str(out), "--quiet"]) == 0
    return _outputs(out)


@pytest.mark.parametrize("flags", [["--chunk-rows", "1000"], ["--chunk-rows", "997", "--num-proc", "2"],
                                   ["--chunk-mb", "1"]])
def test_default_recipe_decisions_do_not_depend_on_chunks_or_processes(samples, tmp_path, default_run, flags):
    """Before the staged executor, --chunk-rows 1000 kept 1,699 of 7,713 pairs instead of 7,274:
    the perplexity model and threshold were fitted on the first chunk."""
    out = tmp_path / "out"
    assert filter_main(["--recipe", str(DEFAULT), "--input", *_inputs(samples), "--output-dir", str(out),
                        "--quiet", *flags]) == 0
    kept, rejects, stats = _outputs(out)
    ref_kept, ref_rejects, ref_stats = default_run
    assert stats["chunks"] > 1 and ref_stats["chunks"] == 1
    assert kept == ref_kept and rejects == ref_rejects
    assert _funnel(stats) == _funnel(ref_stats)
    assert stats["in"] == len(kept) + len(rejects) and len(kept) > 7000  # the bundled data is mostly clean


def test_recipe_that_rejects_everything_early_finishes_with_zero_kept(samples, tmp_path):
    recipe = yaml.safe_load(DEFAULT.read_text())
    for step in recipe["steps"]:
        if step["step"] == "length":
            step["min_bn"] = 10_000  # no sentence is that long: every pair is rejected here
    path = tmp_path / "all-out.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    assert filter_main(["--recipe", str(path), "--input", _inputs(samples)[1], "--output-dir", str(out), "--quiet",
                        "--chunk-rows", "1000"]) == 0
    kept, rejects, stats = _outputs(out)
    assert stats["kept"] == 0 == len(kept) and stats["rejected"] == stats["in"] == len(rejects) > 0
    by_step = {r["step"]: r for r in stats["steps"]}
    assert by_step["length"]["kept"] == 0 and by_step["perplexity"]["in"] == 0
    assert set(s for _, s, _ in rejects) <= {"normalize", "eval_overlap", "pii", "junk", "length"}


@pytest.mark.parametrize("step, message", [
    ({"step": "near_dedup", "ngram": 0}, "step 1 'near_dedup': parameter 'ngram': Input should be greater than or equal to 1"),
    ({"step": "near_dedup", "threshold": -0.2}, "parameter 'threshold': Input should be greater than 0"),
    ({"step": "near_dedup", "threshold": 1.5}, "parameter 'threshold': Input should be less than or equal to 1"),
    ({"step": "langid", "threshold_bn": 7}, "step 1 'langid': parameter 'threshold_bn'"),
    ({"step": "near_dedup", "recall_weight": -1}, "parameter 'recall_weight'"),
    ({"step": "pii", "min_phone_digits": 12, "max_phone_digits": 9}, "min_phone_digits 12 > max_phone_digits 9"),
    ({"step": "pii", "urls": "some"}, "parameter 'urls'"),
    ({"step": "normalize", "form": "NFX"}, "parameter 'form'"),
    ({"step": "script", "min_bn": 7}, "step 1 'script': parameter 'min_bn': Input should be less than or equal to 1"),
    ({"step": "length", "max_en": -3}, "parameter 'max_en': Input should be greater than or equal to 1"),
    ({"step": "length_ratio", "threshold": 0.5}, "parameter 'threshold': Input should be greater than or equal to 1"),
    ({"step": "perplexity", "order": 0}, "parameter 'order'"),
    ({"step": "numbers", "min_agreement": 2}, "parameter 'min_agreement'"),
    ({"step": "junk", "max_chars": 0}, "parameter 'max_chars'"),
])
def test_out_of_range_parameters_are_refused_naming_file_step_and_field(tmp_path, step, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"steps": [step]}))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize("flags, message", [
    (["--chunk-rows", "-5"], "--chunk-rows -5: Input should be greater than or equal to 1"),
    (["--num-proc", "0"], "--num-proc 0: Input should be greater than or equal to 1"),
    (["--chunk-mb", "0"], "--chunk-mb 0: Input should be greater than or equal to 1"),
])
def test_bad_flags_are_refused_before_any_work(samples, tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    rc = filter_main(["--recipe", str(DEFAULT), "--input", *_inputs(samples), "--output-dir", str(out), *flags])
    assert rc == 2 and message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_bad_recipe_head_is_refused(tmp_path):
    with pytest.raises(RecipeError, match="'num_proc': Input should be greater than or equal to 1"):
        load_recipe({"num_proc": 0, "steps": [{"step": "pii"}]})
    with pytest.raises(RecipeError, match="'executor'"):
        load_recipe({"executor": "spark", "steps": [{"step": "pii"}]})
    with pytest.raises(RecipeError, match="--chunk-rows 0"):
        Pipeline.from_recipe({"steps": [{"step": "pii"}]}, chunk_rows=0)


def test_killed_rerun_never_mixes_old_stats_with_new_shards(samples, tmp_path, default_run):
    """Run to completion, then a rerun killed mid-way: the output folder is still the first run's,
    complete and consistent; the next run removes the killed run's leftovers and replaces it."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bilingual.commands.filter", "--recipe", str(DEFAULT), "--input", *_inputs(samples),
           "--output-dir", str(out), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    assert subprocess.run(cmd + ["--chunk-rows", "3000"], env=env, cwd=REPO).returncode == 0
    first = _outputs(out)
    (out / ".work-stale").mkdir()  # what the old layout left inside the output after a kill

    proc = subprocess.Popen(cmd + ["--chunk-rows", "1000"], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.work-*/work/stage-1/chunk-*.arrow")):  # well into the run
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".out.work-*"))  # the killed run's leftovers
    kept, rejects, stats = _outputs(out)  # the first run's output, untouched and consistent
    assert (kept, rejects, stats) == first and stats["in"] == len(kept) + len(rejects)
    assert stats["chunk_rows"] == 3000

    assert subprocess.run(cmd + ["--chunk-rows", "2000"], env=env, cwd=REPO).returncode == 0
    assert not list(tmp_path.glob(".out.*")) and not (out / ".work-stale").exists()
    kept, rejects, stats = _outputs(out)
    assert stats["chunk_rows"] == 2000 and kept == default_run[0] and rejects == default_run[1]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["artifacts", "rejects", "stats.json"] + [f"kept-{k:05d}.parquet" for k in range(4)])


def test_killed_run_resumes_at_the_chunk_and_equals_a_clean_run(samples, tmp_path, default_run):
    """SIGKILL `filter` once stage 0 and three chunks of stage 1 are recorded; the rerun with the same
    inputs, recipe and chunk size reuses those chunk passes (and says so) and its kept ids, rejects with
    reasons and funnel equal an uninterrupted run's; every input row is counted once."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bilingual.commands.filter", "--recipe", str(DEFAULT), "--input", *_inputs(samples),
           "--output-dir", str(out), "--chunk-rows", "1000"]
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200")
    proc = subprocess.Popen(cmd + ["--quiet"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".out.work-*/work/stage-1/chunk-00002.json")):
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # nothing that looks like an output

    rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    kept, rejects, stats = _outputs(out)
    passes = 8 * 5  # 7,713 pairs in 1,000-row chunks; 4 stages of the default recipe + the output writer
    assert stats["resumed"]["chunk_passes"] == passes and 8 + 3 <= stats["resumed"]["reused"] < passes
    assert f"{stats['resumed']['reused']} of {passes} chunk passes" in rerun.stdout
    ref_kept, ref_rejects, ref_stats = default_run
    assert kept == ref_kept and rejects == ref_rejects and _funnel(stats) == _funnel(ref_stats)
    assert stats["in"] == 7713 == len(kept) + len(rejects)
    assert not list(tmp_path.glob(".out.*"))  # the work folder is gone once the output is in place


def test_chunk_loop_never_holds_two_chunks():
    """The executors number their chunks with `stages.numbered`: while the next chunk is produced (read from
    Parquet), the previous one must already be freed, or peak memory is two chunks (enumerate kept it)."""
    import gc
    import weakref

    from bilingual.filters.stages import numbered

    class Chunk:
        pass

    alive_when_reading: list[int] = []
    refs: list = []

    def read_chunks(n):
        for _ in range(n):
            gc.collect()
            alive_when_reading.append(sum(r() is not None for r in refs))
            chunk = Chunk()
            refs.append(weakref.ref(chunk))
            yield chunk
            del chunk

    seen = []
    for k, chunk in numbered(read_chunks(4)):
        seen.append(k)
        del chunk  # what the executors do once a chunk's pass is written
    assert seen == [0, 1, 2, 3]
    assert alive_when_reading == [0, 0, 0, 0]


def test_parquet_chunks_are_bounded_by_text_bytes_as_well_as_rows(tmp_path):
    """Long texts make shorter chunks (memory is set by the bounds, not by how long the input's lines are);
    a single line longer than the byte bound is a chunk of its own; every row comes out once, in order."""
    import pyarrow as pa

    from bilingual.filters.stages import _parquet_chunks, text_bytes

    lengths = [10] * 50 + [3000] + [200] * 40 + [10] * 30  # bytes of bn + en per row
    rows = [{"id": f"r{k}", "bn": "ক" * (n // 6), "en": "e" * (n - 3 * (n // 6))} for k, n in enumerate(lengths)]
    for k in (0, 1):  # two files: a chunk may span them
        part = rows[:60] if k == 0 else rows[60:]
        pq.write_table(pa.Table.from_pylist([dict(r, source="t", provenance="{}", score=None, license="x")
                                             for r in part]), tmp_path / f"in-{k}.parquet")
    files = sorted(tmp_path.glob("in-*.parquet"))
    chunks = [c.data.table for c in _parquet_chunks(files, chunk_rows=25, chunk_bytes=1000)]
    assert [i for t in chunks for i in t.column("id").to_pylist()] == [r["id"] for r in rows]
    sizes = [int(text_bytes(t).sum()) for t in chunks]
    assert all(t.num_rows <= 25 for t in chunks)
    assert all(s <= 1000 for t, s in zip(chunks, sizes) if t.num_rows > 1)
    assert [t.num_rows for t, s in zip(chunks, sizes) if s > 1000] == [1]  # the 3,000-byte line alone
    assert max(t.num_rows for t in chunks if "r60" in t.column("id").to_pylist()) == 5  # 200-byte rows: 5 per chunk
