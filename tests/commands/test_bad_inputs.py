"""Bad inputs, per command, through the real `bilingual` CLI in subprocesses.

Every refused input must end the same way: a non-zero exit, no traceback (without --debug), stderr's
last line naming the file (or the flag) that is wrong, and no output that looks complete. Inputs that
are legitimate but awkward (a BOM, a huge field, documents mixed into pairs) must be read, and every
row accounted for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
TATOEBA = REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv"
RECIPE = REPO / "recipes" / "filters" / "default.yaml"
DAY = "2026-11-26"


def bilingual(*args, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "bilingual", "--quiet", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def real_lines(n: int) -> list[str]:
    return TATOEBA.read_text(encoding="utf-8").splitlines()[:n]


def write_inputs(d: Path) -> None:
    """The bad files, each one kind of problem."""
    (d / "empty.tsv").write_bytes(b"")
    (d / "blank.tsv").write_bytes(b"\n\n  \n")
    (d / "onecol.tsv").write_text("".join(line.split("\t")[0] + "\n" for line in real_lines(5)), encoding="utf-8")
    (d / "badutf8.tsv").write_bytes(real_lines(1)[0].encode() + b"\n" + b"caf\xe9\t\xff\xfe\n")
    (d / "binary.tsv").write_bytes(bytes(range(256)) * 8)
    (d / "corpus.txt").write_text("\n".join(real_lines(5)) + "\n", encoding="utf-8")
    (d / "bad.yaml").write_text("sources: [unclosed\n", encoding="utf-8")
    (d / "list.yaml").write_text("- model\n- data\n", encoding="utf-8")
    (d / "notadump.xml.bz2").write_text("hello, not a dump\n", encoding="utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    write_inputs(d)
    return d


@pytest.fixture(scope="module")
def error_snapshot(inputs):
    """A real snapshot whose manifest records a failed input: collect-wiki over a file that is no dump."""
    proc = bilingual("collect-wiki", "--dump", inputs / "notadump.xml.bz2", "--lang", "bn", "--output-dir",
                     inputs / "wiki", "--date", DAY, cwd=inputs)
    assert proc.returncode != 0
    snap = inputs / "wiki" / "raw" / DAY / "wikipedia-bn"
    assert (snap / "manifest.parquet").exists(), proc.stderr
    return snap


@pytest.fixture(scope="module")
def truncated_model(tmp_path_factory):
    """A saved model whose model.safetensors was cut in half (an interrupted copy)."""
    from _ux_helpers import build_tiny_model

    d = build_tiny_model(tmp_path_factory.mktemp("truncated") / "model", steps=0, onnx=False)
    weights = d / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return d


def flag(command: str, name: str, cwd: Path) -> str:
    """`--name-with-hyphens`, or the underscore spelling where the command still only has that."""
    hyphen, underscore = f"--{name.replace('_', '-')}", f"--{name.replace('-', '_')}"
    return hyphen if hyphen in bilingual(command, "--help", cwd=cwd).stdout else underscore


# (case id, argv as a function of (inputs folder, output folder), the name the last line must contain)
CASES = [
    ("filter-empty", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "empty.tsv", "--output-dir", o], "empty.tsv"),
    ("filter-blank-lines", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "blank.tsv", "--output-dir", o], "blank.tsv"),
    ("filter-one-column", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "onecol.tsv", "--output-dir", o], "onecol.tsv"),
    ("filter-invalid-utf8", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "badutf8.tsv", "--output-dir", o], "badutf8.tsv"),
    ("filter-binary", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "binary.tsv", "--output-dir", o], "binary.tsv"),
    ("filter-txt-corpus", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "corpus.txt", "--output-dir", o], "corpus.txt"),
    ("filter-missing", lambda d, o: ["filter", "--recipe", RECIPE, "--input", d / "nope.tsv", "--output-dir", o], "nope.tsv"),
    ("migrate-binary-only", lambda d, o: ["migrate", _folder_with(d, "binary.tsv"), o], "binary.tsv"),
    ("migrate-txt-only", lambda d, o: ["migrate", _folder_with(d, "corpus.txt"), o], "corpus.txt"),
    ("build-no-pairs", lambda d, o: ["build", "--snapshot", _folder_with(d, "corpus.txt"), "--output-dir", o], "only-corpus.txt"),
    ("build-validation-share", lambda d, o: ["build", "--snapshot", d, "--validation", "2", "--output-dir", o], "--validation"),
    ("build-chunk-rows", lambda d, o: ["build", "--snapshot", d, "--chunk-rows", "-5", "--output-dir", o], "--chunk-rows"),
    ("evaluate-one-column", lambda d, o: ["evaluate", o, "--tsv", d / "onecol.tsv"], "onecol.tsv"),
    ("evaluate-binary", lambda d, o: ["evaluate", o, "--tsv", d / "binary.tsv"], "binary.tsv"),
    ("evaluate-negative-limit", lambda d, o: ["evaluate", o, "--tsv", TATOEBA, "--limit", "-1"], "--limit"),
    ("collect-wiki-not-a-dump", lambda d, o: ["collect-wiki", "--dump", d / "notadump.xml.bz2", "--lang", "bn",
                                              "--output-dir", o], "notadump.xml.bz2"),
    ("scrape-bad-yaml", lambda d, o: ["scrape", "--sources", d / "bad.yaml", "--output-dir", o], "bad.yaml"),
    ("train-yaml-list", lambda d, o: ["train", "--config", d / "list.yaml"], "list.yaml"),
]


def _folder_with(d: Path, name: str) -> Path:
    folder = d / f"only-{name}"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes((d / name).read_bytes())
    return folder


def assert_one_line_error(proc, name: str) -> None:
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    assert name in last, f"last stderr line does not name {name!r}: {last!r}"


def assert_nothing_complete(out: Path) -> None:
    """No artifact that a later stage would take for a finished result."""
    if out.exists():
        assert not list(out.rglob("stats.json")) and not list(out.rglob("*.parquet")), sorted(out.rglob("*"))
    assert not [p for p in out.parent.glob(f".build-{out.name}-*")]


@pytest.mark.parametrize("case, argv, name", [
    pytest.param(c, a, n, id=c) for c, a, n in CASES])
def test_bad_input_is_a_one_line_error(inputs, tmp_path, case, argv, name):
    out = tmp_path / "out"
    proc = bilingual(*argv(inputs, out), cwd=tmp_path)
    assert_one_line_error(proc, name)
    if not case.startswith(("evaluate", "collect-wiki")):  # evaluate's `out` is the model folder argument
        assert_nothing_complete(out)


def test_train_tokenizer_on_unreadable_files(inputs, tmp_path):
    for bad in ("empty.tsv", "binary.tsv"):
        proc = bilingual("train-tokenizer", "--files", inputs / bad, flag("train-tokenizer", "output-dir", tmp_path),
                         tmp_path / "tok", cwd=tmp_path)
        assert_one_line_error(proc, bad)
        assert not (tmp_path / "tok" / "tokenizer.json").exists()


def test_train_tokenizer_on_a_text_file_says_what_it_expects(inputs, tmp_path):
    """A TSV/text corpus is the likeliest wrong input: the error names the file and says what --files takes."""
    proc = bilingual("train-tokenizer", "--files", inputs / "corpus.txt", flag("train-tokenizer", "output-dir", tmp_path),
                     tmp_path / "tok", cwd=tmp_path)
    assert_one_line_error(proc, "corpus.txt")
    last = proc.stderr.strip().splitlines()[-1]
    assert "expects Parquet shards with bn and en columns" in last and "bilingual filter" in last, last
    assert not (tmp_path / "tok" / "tokenizer.json").exists()


def test_mine_refuses_snapshot_whose_manifest_says_error(error_snapshot, tmp_path):
    proc = bilingual("mine", "--bn-snapshot", error_snapshot, "--en-snapshot", error_snapshot,
                     "--output-dir", tmp_path / "mined", "--date", DAY, cwd=tmp_path)
    assert_one_line_error(proc, "manifest.parquet")
    assert "notadump.xml.bz2" in proc.stderr
    assert not list((tmp_path / "mined").rglob("*.parquet")) if (tmp_path / "mined").exists() else True


@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_truncated_model_weights(truncated_model, tmp_path, command):
    argv = (["translate", "--model", truncated_model, "--src", "en", "hello"] if command == "translate" else
            ["evaluate", truncated_model, "--tsv", TATOEBA, "--limit", "3", "--output-dir", tmp_path / "eval"])
    proc = bilingual(*argv, cwd=tmp_path)
    assert_one_line_error(proc, "model.safetensors")


# ---------------------------------------------------------------------------------------- read, not refused

def filter_files(tmp_path, *files) -> tuple[dict, list]:
    out = tmp_path / "filtered"
    proc = bilingual("filter", "--recipe", RECIPE, "--input", *files, "--output-dir", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    rejects = [r for f in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return stats, rejects


def test_jsonl_with_bom_is_read(tmp_path):
    rows = [line.split("\t") for line in real_lines(40)]
    text = "".join(json.dumps({"bn": r[1], "en": r[0]}, ensure_ascii=False) + "\n" for r in rows)
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    stats, _ = filter_files(tmp_path, tmp_path / "bom.jsonl")
    assert stats["in"] == 40 and not stats["unreadable"]


def test_tsv_field_over_128_kib_is_rejected_with_a_reason(tmp_path):
    """Python's csv module stops at 131,072 characters a field (a traceback before); the row is read
    and the junk step rejects it, counted with its reason."""
    huge = "আমি " * 50_000  # 200,000 characters
    lines = real_lines(40) + [f"I am.\t{huge}\tnobody"]
    (tmp_path / "huge.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats, rejects = filter_files(tmp_path, tmp_path / "huge.tsv")
    assert stats["in"] == 41 == stats["kept"] + stats["rejected"]
    big = [r for r in rejects if len(r["bn"]) > 100_000]
    assert len(big) == 1 and big[0]["reject_step"] and big[0]["reject_reason"]


def test_documents_mixed_into_pairs_are_counted_not_dropped(tmp_path):
    rows = [line.split("\t") for line in real_lines(40)]
    lines = [json.dumps({"bn": r[1], "en": r[0]}, ensure_ascii=False) for r in rows]
    lines.insert(3, json.dumps({"text": "বাংলাদেশ দক্ষিণ এশিয়ার একটি রাষ্ট্র।", "lang": "bn"}, ensure_ascii=False))
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats, _ = filter_files(tmp_path, tmp_path / "mixed.jsonl")
    assert stats["in"] == 40
    assert [(u["record"], "not a pair" in u["error"]) for u in stats["unreadable"]] == [(4, True)]


def test_migrate_folder_with_only_a_pairs_tsv(tmp_path):
    src = tmp_path / "legacy"
    src.mkdir()
    (src / "pairs.tsv").write_text("\n".join(real_lines(30)) + "\n", encoding="utf-8")
    proc = bilingual("migrate", src, tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["pairs-00000-of-00001.parquet", "unreadable.json"]
    assert pq.read_table(tmp_path / "out" / files[0]).num_rows == 30


def test_migrate_replaces_its_output_whole_and_refuses_foreign_folders(tmp_path):
    """A rerun swaps in a complete new output (no shard of the earlier run survives beside the new ones),
    leftovers of a killed run are removed, and a folder that is not a migrate output is never touched."""
    out = tmp_path / "out"
    for n in (30, 12):
        src = tmp_path / f"legacy{n}"
        src.mkdir()
        (src / "pairs.tsv").write_text("\n".join(real_lines(n)) + "\n", encoding="utf-8")
    proc = bilingual("migrate", tmp_path / "legacy30", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out / "documents-00000-of-00001.parquet").write_bytes((out / "pairs-00000-of-00001.parquet").read_bytes())
    leftover = tmp_path / ".out.work-deadbeef"  # what a killed migrate leaves
    leftover.mkdir()
    proc = bilingual("migrate", tmp_path / "legacy12", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["pairs-00000-of-00001.parquet", "unreadable.json"]
    assert pq.read_table(out / "pairs-00000-of-00001.parquet").num_rows == 12
    assert not leftover.exists() and not list(tmp_path.glob(".out.*"))

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    proc = bilingual("migrate", tmp_path / "legacy12", foreign, cwd=tmp_path)
    assert proc.returncode != 0 and "thesis.tex" in proc.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    proc = bilingual("migrate", tmp_path / "legacy12", tmp_path / "legacy12" / "out", cwd=tmp_path)
    assert proc.returncode != 0 and "outside the input folder" in proc.stderr
