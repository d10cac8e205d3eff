"""build_corpus end to end on real sample snapshots: builder splits, eval-set removal, Parquet that
`load_dataset` reads with no remote code, stats, card, streaming, corrupt shards."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

from bilingual.corpus.dataset import assign_splits, load_streaming
from bilingual.corpus.build import build_corpus
from bilingual.schema import Document, normalize_key
from bilingual.storage import CorruptShardError, write_records
from dataset_builder import Bilingual

from _corpus_helpers import DAY, make_snapshots

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("root")
    snaps = make_snapshots(root, samples)
    docs = [Document(id=f"d{i}", lang=lang, text=text, source="wiki", page_id=i, license="CC BY-SA 4.0")
            for i, (lang, text) in enumerate([("bn", "বাংলাদেশ দক্ষিণ এশিয়ার একটি রাষ্ট্র।"), ("en", "Bangladesh is a country."),
                                              ("bn", "ঢাকা বাংলাদেশের রাজধানী।")])]
    write_records(root / "raw" / DAY / "wiki" / "documents-00000.parquet", docs, Document)
    # evaluation set: 30 real TICO pairs that are also in the snapshot
    tico = load_dataset("parquet", data_files=str(snaps[1] / "pairs-00000.parquet"), split="train")
    eval_file = root / "eval.jsonl"
    eval_file.write_text("".join(json.dumps({"bn": r["bn"], "en": r["en"]}, ensure_ascii=False) + "\n"
                                 for r in tico.select(range(100, 130))), encoding="utf-8")
    out = root / "processed" / "v1"
    stats = build_corpus([root / "raw" / DAY], REPO / "recipes" / "filters" / "default.yaml", out,
                         eval_sets=[eval_file], validation=0.05, test=0.05, quiet=True)
    return root, out, stats, eval_file


def test_load_dataset_reads_splits_and_accounting(built):
    root, out, stats, _ = built
    dd = load_dataset(str(out))
    assert set(dd) == {"train", "validation", "test"}
    assert {s: len(dd[s]) for s in dd} == stats["splits"]
    assert sum(stats["splits"].values()) == stats["kept"]
    assert stats["in"] == 1800 == stats["kept"] + stats["rejected"]
    rejects = load_dataset(str(out), "rejects", split="train")
    assert len(rejects) == stats["rejected"]
    assert set(rejects["reject_step"]) <= {s["step"] for s in stats["steps"]}
    assert stats["documents"] == {"bn": 2, "en": 1}
    assert len(load_dataset(str(out), "documents_bn", split="train")) == 2
    for step in stats["steps"]:
        assert set(step) >= {"step", "in", "kept", "dropped", "seconds", "reasons"}
    assert stats["dataset_dir"] == str(out)
    assert {s["source"] for s in stats["sources"]} == {"tatoeba", "tico19"}
    assert sorted(p.name for p in (out / "artifacts").iterdir()) == ["adequacy", "charlm-bn.npz", "charlm-en.npz"]
    assert json.loads((out / "stats.json").read_text())["kept"] == stats["kept"]


def test_validation_and_test_share_no_side_with_train(built):
    _, out, _, _ = built
    dd = load_dataset(str(out))
    for side in ("bn", "en"):
        train = {normalize_key(t) for t in dd["train"][side]}
        for split in ("validation", "test"):
            assert len(dd[split]) > 0
            assert not train & {normalize_key(t) for t in dd[split][side]}, (split, side)
    for split in dd:
        assert len(dd[split]) > 0


def test_eval_sets_are_removed(built):
    _, out, stats, eval_file = built
    eval_bn = {normalize_key(json.loads(line)["bn"]) for line in eval_file.read_text(encoding="utf-8").splitlines()}
    dd = load_dataset(str(out))
    for split in dd:
        assert not eval_bn & {normalize_key(t) for t in dd[split]["bn"]}
    step = next(s for s in stats["steps"] if s["step"] == "eval_overlap")
    assert step["dropped"] >= 25  # a few may have gone earlier in the chain


def test_dataset_card_metadata_and_funnel(built):
    _, out, stats, _ = built
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["language"] == ["bn", "en"]
    assert sorted(meta["license"]) == ["cc-by-2.0", "cc0-1.0"]
    assert meta["task_categories"] == ["translation"] and meta["size_categories"] == ["1K<n<10K"]
    assert {c["config_name"] for c in meta["configs"]} == {"default", "documents_bn", "documents_en", "rejects"}
    for step in stats["steps"]:
        assert f"| {step['step']} | {step['in']:,} | {step['kept']:,} | {step['dropped']:,} |" in text
    assert "CC-BY 2.0 FR" in text


def test_streaming_shuffle_is_deterministic(built):
    _, out, stats, _ = built
    a = [r["id"] for r in load_streaming(out, "train", shuffle_buffer=200, seed=3)]
    b = [r["id"] for r in load_streaming(out, "train", shuffle_buffer=200, seed=3)]
    assert a == b and len(a) == stats["splits"]["train"]
    assert a != sorted(a) and a != list(load_dataset(str(out), split="train")["id"])


def test_builder_runs_directly_with_declared_features(built, tmp_path):
    root, _, _, _ = built
    b = Bilingual(config_name="pairs", snapshot_dirs=(str(root / "raw" / DAY),), cache_dir=str(tmp_path))
    b.download_and_prepare()
    dd = b.as_dataset()
    assert b.name == "bilingual"
    assert dd["train"].features["score"].dtype == "float64"
    assert sum(len(dd[s]) for s in dd) == 1800


def test_corrupt_shard_is_named(tmp_path, samples):
    snaps = make_snapshots(tmp_path, samples, n_tatoeba=50, n_tico=10)
    bad = snaps[0] / "pairs-00001.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CorruptShardError, match="pairs-00001.parquet"):
        build_corpus(snaps, REPO / "recipes" / "filters" / "default.yaml", tmp_path / "out", quiet=True)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_corpus.py"), "--snapshot", str(snaps[0]),
                           "--output-dir", str(tmp_path / "out2"), "--quiet"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "pairs-00001.parquet" in proc.stderr and "Traceback" not in proc.stderr



def test_rebuild_into_same_folder_loads_fresh_data(tmp_path, samples):
    """datasets keys its cache for a local folder on the README configs: the card's dataset_info
    must change when the data does, or load_dataset returns the previous build."""
    out = tmp_path / "processed" / "v1"
    sizes = []
    for n in (60, 120):
        root = tmp_path / f"root{n}"
        snaps = make_snapshots(root, samples, n_tatoeba=n, n_tico=20)
        stats = build_corpus(snaps, REPO / "recipes" / "filters" / "default.yaml", out, quiet=True)
        dd = load_dataset(str(out))
        sizes.append(sum(len(dd[s]) for s in dd))
        assert sizes[-1] == stats["kept"]
    assert sizes[0] < sizes[1]



def _cli_build(snapshot_root, out, chunk_rows):
    return [sys.executable, "-m", "bilingual", "--quiet", "build", "--snapshot", str(snapshot_root),
            "--output-dir", str(out), "--chunk-rows", str(chunk_rows), "--no-eval-sets", "--validation", "0.05",
            "--test", "0.05"]


def _published(out):
    """What a consumer sees: every split's rows (ids, texts), the rejects with reasons, the totals."""
    import pyarrow.parquet as pq

    def rows(pattern, cols):
        files = sorted(out.glob(pattern))
        return sorted(tuple(r[c] for c in cols) for f in files for r in pq.read_table(f, columns=cols).to_pylist())

    stats = json.loads((out / "stats.json").read_text())
    return ({s: rows(f"data/{s}-*.parquet", ["id", "bn", "en"]) for s in ("train", "validation", "test")},
            rows("rejects/rejects-*.parquet", ["id", "reject_step", "reject_reason"]),
            {k: stats[k] for k in ("in", "kept", "rejected", "splits")})


def test_killed_rebuild_keeps_old_dataset_then_resumes(tmp_path, samples):
    """SIGKILL a rebuild in the middle of its filter stage (stage 0 and four chunks of stage 1 recorded):
    the old dataset (splits, stats.json, card) is untouched and loadable; the rerun reuses those chunk
    passes (and says so), cleans leftovers, and equals an uninterrupted build."""
    import os
    import signal
    import time

    out = tmp_path / "processed" / "v1"
    make_snapshots(tmp_path / "old", samples, n_tatoeba=150, n_tico=30)
    subprocess.run(_cli_build(tmp_path / "old" / "raw", out, 100), check=True, capture_output=True, cwd=tmp_path)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    old_stats = json.loads((out / "stats.json").read_text())

    make_snapshots(tmp_path / "new", samples, n_tatoeba=1200, n_tico=600)
    proc = subprocess.Popen(_cli_build(tmp_path / "new" / "raw", out, 150), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(out.parent.glob(".build-v1-*/.filter.work-*/work/stage-1/chunk-00003.json")):
        assert proc.poll() is None, f"the build ended before it could be killed: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the old train split, stats.json and card, byte for byte
    dd = load_dataset(str(out))
    assert {s: len(dd[s]) for s in dd} == old_stats["splits"]
    assert len(list(out.parent.glob(".build-v1-*"))) == 1  # the killed run's work, kept for the resume
    stale = out.parent / ".build-v1-0123456789abcdef"  # a work folder of some other killed run
    (stale / "filter").mkdir(parents=True)

    resumed = subprocess.run(_cli_build(tmp_path / "new" / "raw", out, 150), capture_output=True, text=True,
                             cwd=tmp_path, env=dict(os.environ, COLUMNS="300"))  # the summary on one line
    assert resumed.returncode == 0, resumed.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert not stats["resumed_filter"] and stats["chunks"] == 12 and stats["in"] == 1800
    passes = 12 * 5  # 1,800 pairs in 150-row chunks; 4 stages of the default recipe + the output writer
    assert stats["resumed"]["chunk_passes"] == passes and 12 + 4 <= stats["resumed"]["reused"] < passes
    assert f"{stats['resumed']['reused']} of {passes} filter chunk passes" in resumed.stdout
    assert ".build-v1-0123456789abcdef" in stats["cleaned"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["v1"]  # no work, lock or old folders left

    fresh = tmp_path / "fresh" / "v1"
    subprocess.run(_cli_build(tmp_path / "new" / "raw", fresh, 150), check=True, capture_output=True, cwd=tmp_path)
    fresh_stats = json.loads((fresh / "stats.json").read_text())
    assert not fresh_stats["resumed_filter"] and fresh_stats["resumed"]["reused"] == 0
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in stats["steps"]] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in fresh_stats["steps"]]
    assert _published(out) == _published(fresh)
    dd = load_dataset(str(out))
    assert {s: len(dd[s]) for s in dd} == stats["splits"]


def test_interrupted_swap_restores_the_old_dataset(tmp_path, samples):
    """A kill between the two renames of the swap leaves the old folder under `.old-*`: the next run
    puts it back before anything else, then finishes."""
    out = tmp_path / "processed" / "v1"
    snaps = make_snapshots(tmp_path, samples, n_tatoeba=100, n_tico=20)
    recipe = REPO / "recipes" / "filters" / "default.yaml"
    first = build_corpus(snaps, recipe, out, quiet=True)
    out.rename(out.parent / ".old-v1-0000")  # as if killed right after the first rename
    from bilingual.corpus.build import _recover_and_clean

    _recover_and_clean(out, keep=out.parent / ".build-v1-x")
    assert json.loads((out / "stats.json").read_text())["kept"] == first["kept"]
    assert not list(out.parent.glob(".old-*"))


@pytest.mark.parametrize("kw, match", [({"validation": -0.1}, "--validation"), ({"test": 1.5}, "--test"),
                                       ({"validation": 0.6, "test": 0.5}, "leave nothing"),
                                       ({"chunk_rows": 0}, "--chunk-rows")])
def test_build_settings_out_of_range_are_refused(tmp_path, samples, kw, match):
    from bilingual.corpus.build import BuildSettingsError

    snaps = make_snapshots(tmp_path, samples, n_tatoeba=10, n_tico=5)
    with pytest.raises(BuildSettingsError, match=match):
        build_corpus(snaps, REPO / "recipes" / "filters" / "default.yaml", tmp_path / "out", quiet=True, **kw)
    assert not (tmp_path / "out").exists()


def test_snapshot_with_failed_input_is_reported(tmp_path, samples, capsys):
    """A snapshot whose manifest records a failed input (here: a TSV cut by a bad byte) is built from
    what it holds, and the failure is said on stderr and kept in stats.json."""
    from bilingual.sources.corpora import readers as corpora
    from bilingual.storage import snapshot_dir

    src = tmp_path / "cut.tsv"
    src.write_bytes("\n".join((samples / "parallel" / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8")
                              .splitlines()[:60]).encode() + b"\nbad\t\xff\n")
    folder = snapshot_dir(tmp_path, "cut", DAY)
    res = corpora.snapshot_corpus(corpora.read_tsv(src), folder, "cut", src, "CC-BY 2.0 FR")
    assert res["status"] == "error" and res["kept"] == 60
    stats = build_corpus([folder], REPO / "recipes" / "filters" / "default.yaml", tmp_path / "out", quiet=True)
    assert stats["in"] == 60
    assert len(stats["snapshot_errors"]) == 1 and "cut.tsv" in stats["snapshot_errors"][0]
    assert "line 61: not UTF-8" in capsys.readouterr().err


def test_output_folder_holding_other_files_is_refused(tmp_path, samples):
    """The build replaces its output folder whole, so a folder that is not an earlier build is refused
    (and left as it was), never swapped away."""
    from bilingual.corpus.build import BuildSettingsError

    snaps = make_snapshots(tmp_path, samples, n_tatoeba=20, n_tico=5)
    with pytest.raises(BuildSettingsError, match="not a dataset written by"):
        build_corpus(snaps, REPO / "recipes" / "filters" / "default.yaml", tmp_path / "raw", quiet=True)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [DAY]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sharded_writer_reuses_the_shards_a_killed_run_finished(tmp_path):
    """Shards are atomic, so the ones present are complete: a rerun keeps them, skips their rows and
    writes only the rest; the files equal one uninterrupted write."""
    import pyarrow as pa

    from bilingual.corpus.build import _ShardedWriter

    table = pa.table({"id": [f"r{i}" for i in range(250)]})

    def write(folder):
        w = _ShardedWriter(folder, "train", 250, 100, table.schema)
        for b in table.to_batches(max_chunksize=30):
            w.write(pa.Table.from_batches([b]))
        w.close()
        return w.reused

    assert write(tmp_path / "clean") == 0
    names = sorted(p.name for p in (tmp_path / "clean").iterdir())
    assert names == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    part = tmp_path / "killed"
    part.mkdir()
    for name in names[:2]:  # as a kill while the third shard was being written leaves it
        (part / name).write_bytes((tmp_path / "clean" / name).read_bytes())
    before = (part / names[0]).stat().st_mtime_ns
    assert write(part) == 2
    assert (part / names[0]).stat().st_mtime_ns == before  # not rewritten
    assert {n: (part / n).read_bytes() for n in names} == {n: (tmp_path / "clean" / n).read_bytes() for n in names}


def test_build_with_the_ray_executor_equals_local(tmp_path, samples):
    """`bilingual build --executor ray` (a local Ray this run starts) publishes the same splits, rejects with
    reasons and funnel as the local executor; the flag wins over the recipe's `executor: local`."""
    pytest.importorskip("ray", reason="the [ray] extra (the test extra includes it)")
    import os

    make_snapshots(tmp_path, samples, n_tatoeba=120, n_tico=30)
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    runs = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor / "v1"
        done = subprocess.run(_cli_build(tmp_path / "raw", out, 100) + ["--executor", executor], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        stats = json.loads((out / "stats.json").read_text())
        runs[executor] = (_published(out), [{k: v for k, v in r.items() if k != "seconds"} for r in stats["steps"]],
                          stats["executor"])
    assert runs["ray"][2] == "ray" and runs["local"][2] == "local"
    assert runs["ray"][:2] == runs["local"][:2]
