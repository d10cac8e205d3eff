"""Every registered backend through the commands users run: `translate --backend` offers all four and gives
the library's output; `export --quantize --no-onnx` quantizes the export already there (or says why not);
`--quiet` leaves stderr free of third-party warnings; the translate summary's load time is the load's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from _ux_helpers import REPO, tiny_model  # noqa: F401 - fixture

EN = ["I love you.", "Where is the station?", "Go."]
MAX_NEW = 24


def _run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bilingual", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    """The tiny model with all three artifacts, made by the backends' own exports (gates at 0: the tiny
    model's int8 parity is not this file's subject)."""
    from bilingual.inference.backends import ctranslate2, onnx, parity

    model = tmp_path_factory.mktemp("all") / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx*"))
    reference = parity.Reference(model, EN, len(EN), MAX_NEW)
    onnx.export(model, reference=reference, min_identical=0.0)
    onnx.export_int8(model, reference=reference, min_identical=0.0, max_chrf_drop=100.0)
    ctranslate2.export(model, reference=reference, quantization="int8", min_identical=0.0, max_chrf_drop=100.0)
    return model


def test_translate_offers_every_backend_and_matches_the_library(exported):
    from bilingual.inference.backends import names
    from bilingual.inference.translator import Translator

    help_text = _run("translate", "--help").stdout
    assert help_text.startswith("usage: bilingual translate")
    assert "{pytorch,onnx,onnx-int8,ctranslate2}" in help_text
    for backend in names():
        started = time.perf_counter()
        proc = _run("translate", "--model", exported, "--backend", backend, "--src", "en", "--max-new-tokens",
                    MAX_NEW, *EN)
        wall = time.perf_counter() - started
        assert proc.returncode == 0, proc.stderr[-2000:]
        expected = Translator(exported, backend).translate(EN, "en", "bn", max_new_tokens=MAX_NEW)
        assert proc.stdout.splitlines() == expected, backend
        assert re.search(rf"backend\s*│\s*{re.escape(backend)}", proc.stderr)
        load_s = float(re.search(r"load s\s*│\s*([0-9.,]+)", proc.stderr).group(1).replace(",", ""))
        assert load_s <= wall, f"reported load time {load_s} s exceeds the whole command's {wall:.1f} s"


def test_quiet_commands_print_no_third_party_warnings(exported, tmp_path):
    checks = {
        "translate": _run("translate", "--model", exported, "--backend", "onnx", "--src", "en", "--quiet", "Go."),
        "evaluate": _run("evaluate", exported, "--backend", "onnx-int8", "--limit", "3", "--num-beams", "1",
                         "--max-new-tokens", MAX_NEW, "--output-dir", tmp_path / "eval", "--quiet"),
        "export": _run("export", exported, "--n-sample", "4", "--max-new-tokens", "8", "--quiet",
                       "--report", tmp_path / "export.json"),
    }
    for name, proc in checks.items():
        noise = [line for line in proc.stderr.splitlines()
                 if re.search(r"warn|TracerWarning|initializer|missing keys|torch_dtype|deprecat", line, re.I)]
        assert not noise, f"{name} --quiet printed: {noise[:5]}"
    assert checks["translate"].returncode == 0 and checks["translate"].stderr.strip() == ""
    assert checks["evaluate"].returncode == 0, checks["evaluate"].stderr[-1000:]


def test_quantize_with_no_onnx_quantizes_the_existing_export_or_says_why(exported, tmp_path):
    import json

    model = tmp_path / "model"
    shutil.copytree(exported, model, ignore=shutil.ignore_patterns("onnx-int8", "ctranslate2"))
    proc = _run("export", model, "--quantize", "--no-onnx", "--n-sample", "4", "--max-new-tokens", "8",
                "--report", tmp_path / "r.json", "--quiet")
    report = json.loads((tmp_path / "r.json").read_text()) if proc.returncode == 0 else None
    # either the int8 gate passed (folder written) or it failed with its numbers; never a silent skip
    if report is not None:
        assert set(report) == {"onnx_int8"} and (model / "onnx-int8" / "parity.json").is_file()
    else:
        assert "ONNX int8 export failed its parity check" in proc.stderr, proc.stderr[-1000:]
        assert not (model / "onnx-int8").exists()
    shutil.rmtree(model / "onnx")
    proc = _run("export", model, "--quantize", "--no-onnx", "--quiet")
    assert proc.returncode != 0 and "needs the fp32 export" in proc.stderr and str(model / "onnx") in proc.stderr
    proc = _run("export", model, "--no-onnx", "--quiet")
    assert proc.returncode == 2 and "nothing to do" in proc.stderr


def test_translate_bad_inputs_are_one_line_errors(tiny_model, tmp_path, capsys):
    from bilingual import cli

    latin1 = tmp_path / "in.txt"
    latin1.write_bytes("Go.\nHello.\ncaf\xe9\n".encode("latin-1"))
    cases = [
        (["--input", latin1], [str(latin1), "line 3", "UTF-8"]),
        (["--input", tmp_path / "nope.txt"], ["nope.txt", "no such file"]),
        (["--beams", "0", "Go."], ["--beams"]),
        (["--backend", "tensorrt", "Go."], ["invalid choice", "ctranslate2"]),
    ]
    for args, needles in cases:
        rc = cli.main(["translate", "--model", str(tiny_model), "--src", "en", "--quiet", *map(str, args)])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc != 0 and len(lines) == 1 and all(n in lines[0] for n in needles), (args, err[-800:])
    rc = cli.main(["translate", "--model", str(tmp_path / "no-model"), "--src", "en", "Go."])
    assert rc != 0 and "no config.json" in capsys.readouterr().err
