"""`bilingual mine` refuses bad flags at once, through the real command line: exit status 2, one line on stderr
that names the flag, nothing written. A missing snapshot folder fails with status 1 and names the folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def mine(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bilingual", "mine", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def wiki(tmp_path: Path) -> list:
    return ["--bn-snapshot", tmp_path / "bn", "--en-snapshot", tmp_path / "en", "--output-dir", tmp_path / "out"]


@pytest.mark.parametrize("flags, names", [
    (["--min-score", "1.5"], "--min-score must be within [0, 1], got 1.5"),
    (["--min-score", "-0.1"], "--min-score must be within [0, 1], got -0.1"),
    (["--min-score", "nan"], "--min-score must be within [0, 1], got nan"),
    (["--threshold", "1.2"], "--threshold must be within [0, 1]"),
    (["--threshold", "-0.3"], "--threshold must be within [0, 1]"),
    (["--bootstrap-rounds", "-1"], "--bootstrap-rounds must be 0 (off) or more, got -1"),
    (["--date", "2026-02-30"], "--date: expected a date YYYY-MM-DD, got '2026-02-30'"),
    (["--date", "20261130"], "--date: expected a date YYYY-MM-DD, got '20261130'"),
])
def test_out_of_range_flag_is_refused_naming_it(tmp_path, flags, names):
    proc = mine(*wiki(tmp_path), *flags, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, names", [
    ([], "give --web BN_SNAPSHOT EN_SNAPSHOT, or --bn-snapshot and --en-snapshot"),
    (["--bn-snapshot", "bn"], "give --web BN_SNAPSHOT EN_SNAPSHOT, or --bn-snapshot and --en-snapshot"),
    (["--web", "bn", "en", "--min-score", "0.5"], "--min-score applies to Wikipedia mining"),
])
def test_inputs_that_do_not_go_together_are_refused(tmp_path, args, names):
    proc = mine(*args, "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_snapshot_folder_is_named(tmp_path):
    (tmp_path / "en").mkdir()
    proc = mine(*wiki(tmp_path), "--date", "2026-11-30", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == f"mine: {tmp_path / 'bn'}: no such snapshot folder"
    assert not (tmp_path / "out").exists()
