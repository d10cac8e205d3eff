"""A missing, truncated or corrupt weight / ONNX / CTranslate2 file is one line naming the file, with a non-zero
exit and no traceback, in every command that loads a model: translate, serve, export, evaluate. The broken
files are real copies of the tiny model's files, cut short or overwritten."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from _ux_helpers import REPO, tiny_model  # noqa: F401 - fixture


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.fixture(scope="module")
def broken(tiny_model, tmp_path_factory):
    """Model folders with one broken file each: {case: (model_dir, broken file)}."""
    from bilingual.inference.backends import ctranslate2

    root = tmp_path_factory.mktemp("broken")
    base = root / "base"
    shutil.copytree(tiny_model, base)
    ctranslate2.export(base, quantization=None, sample_texts=["Go.", "যাও।"], n_sample=2, min_identical=0.0)
    cases = {}

    def case(name, rel, how):
        folder = root / name
        shutil.copytree(base, folder)
        how(folder / rel)
        cases[name] = (folder, folder / rel)

    case("weights-truncated", "model.safetensors", _truncate)
    case("weights-empty", "model.safetensors", lambda p: p.write_bytes(b""))
    case("weights-missing", "model.safetensors", lambda p: p.unlink())
    case("onnx-truncated", "onnx/decoder_model.onnx", _truncate)
    case("onnx-garbage", "onnx/encoder_model.onnx", lambda p: p.write_bytes(os.urandom(4096)))
    case("onnx-missing", "onnx/decoder_with_past_model.onnx", lambda p: p.unlink())
    case("ct2-truncated", "ctranslate2/model.bin", _truncate)
    return cases


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bilingual", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def _one_line_naming(proc: subprocess.CompletedProcess, path) -> None:
    assert proc.returncode != 0, proc.stdout[-500:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert "error" in last and (str(path) in last or (path.name in last and str(path.parent) in last)), last


WEIGHTS = ("weights-truncated", "weights-empty", "weights-missing")
ONNX = ("onnx-truncated", "onnx-garbage", "onnx-missing")


def _named(case, folder, path):
    # a missing weight file is named by its folder ("no model weights"), a broken one by its own path
    return folder if case == "weights-missing" else path


@pytest.mark.parametrize("case", WEIGHTS + ONNX + ("ct2-truncated",))
def test_translate(broken, case):
    folder, path = broken[case]
    backend = {"w": "pytorch", "o": "onnx", "c": "ctranslate2"}[case[0]]
    _one_line_naming(_run("translate", "--model", folder, "--backend", backend, "--src", "en", "--quiet", "Go."),
                     _named(case, folder, path))


@pytest.mark.parametrize("case", ("weights-truncated", "onnx-truncated", "ct2-truncated"))
def test_evaluate(broken, case):
    folder, path = broken[case]
    backend = {"w": "pytorch", "o": "onnx", "c": "ctranslate2"}[case[0]]
    _one_line_naming(_run("evaluate", folder, "--backend", backend, "--limit", "2", "--quiet"), path)


@pytest.mark.parametrize("case", ("weights-truncated", "weights-missing", "onnx-garbage"))
def test_export(broken, case):
    folder, path = broken[case]
    extra = ["--no-onnx", "--quantize"] if case.startswith("onnx") else []
    proc = _run("export", folder, *extra, "--n-sample", "2", "--quiet")
    _one_line_naming(proc, _named(case, folder, path))
    assert not list(folder.glob(".onnx*")), "an unfinished export folder was left behind"


@pytest.mark.parametrize("case", ("weights-truncated", "onnx-truncated", "ct2-truncated"))
def test_serve_fails_before_binding(broken, case):
    folder, path = broken[case]
    backend = {"w": "pytorch", "o": "onnx", "c": "ctranslate2"}[case[0]]
    _one_line_naming(_run("serve", "--model", folder, "--backend", backend, "--port", "1", "--quiet"), path)
