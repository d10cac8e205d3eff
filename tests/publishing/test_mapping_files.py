"""The training recipe (`train --config`, YAML) and the run report (`card --report`, JSON) are read by one reader
(storage.read_mapping): the same bad file gets the same one-line error naming it from either command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bilingual(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bilingual", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


COMMANDS = {"train": (["train", "--config"], ".yaml", "training arguments"),
            "card": (["card", "--model", "model", "--report"], ".json", "report sections")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("content, message", [
    (None, "{path} does not exist"),
    (b"[1, 2]\n", "{path}: expected a mapping of {what} (key: value) at the top level, got a list"),
    (b"\xff\xfe a: 1\n", "{path}: not UTF-8 text (invalid start byte at byte 0)"),
])
def test_bad_mapping_file_gets_the_same_one_line_error_from_train_and_card(tmp_path, command, content, message):
    argv, suffix, what = COMMANDS[command]
    path = tmp_path / f"settings{suffix}"
    if content is not None:
        path.write_bytes(content)
    proc = bilingual(*argv, path, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(path=path, what=what) in lines[0], proc.stderr
