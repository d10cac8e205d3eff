"""The `bilingual` console command: dispatch, help, one-line errors, and the translate subcommand with a
real tiny model (arguments, stdin, files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

from bilingual import cli

MAX_NEW = 24


def run_cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "bilingual", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300, **kw)


@pytest.fixture(scope="module")
def translator(tiny_model):
    from bilingual.inference.translator import Translator

    return Translator(tiny_model)


def test_top_level_help_lists_every_subcommand_without_importing_stages():
    code = ("import sys; from bilingual.cli import main; rc = main(['--help']); "
            "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'bilingual.commands.translate') "
            "if m in sys.modules)); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("download-wiki", "collect-wiki", "mine", "scrape", "migrate", "build", "filter", "train-tokenizer",
                 "train", "evaluate", "export", "card", "publish", "run", "translate", "serve"):
        assert f"\n  {name} " in result.stdout, name
    assert "HEAVY []" in result.stdout


def test_subcommand_map_matches_the_brief():
    expected = {"download-wiki": "download_wiki", "collect-wiki": "collect_wiki", "mine": "mine", "align": "align",
                "scrape": "scrape", "migrate": "migrate", "build": "build_corpus", "filter": "filter",
                "train-tokenizer": "train_tokenizer", "train": "train", "evaluate": "evaluate",
                "export": "export_onnx", "card": "card", "publish": "publish", "run": "run_pipeline",
                "translate": "translate", "serve": "serve"}
    assert {k: v[0] for k, v in cli.COMMANDS.items() if k in expected} == expected


def test_missing_command_module_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "ghost", ("no_such_stage_module", "a stage nobody wrote"))
    assert cli.main(["ghost", "--help"]) == 1
    err = capsys.readouterr().err
    assert err == ("bilingual: error: subcommand ghost is not available: "
                   "bilingual.commands.no_such_stage_module is missing\n")


def test_unknown_command_and_option(capsys):
    assert cli.main(["tranlsate"]) == 2
    assert "did you mean 'translate'" in capsys.readouterr().err
    assert cli.main(["--frobnicate", "translate"]) == 2
    assert "unknown option '--frobnicate'" in capsys.readouterr().err
    assert cli.main([]) == 2


@pytest.mark.parametrize("name,flag", [("translate", "--beams"), ("serve", "--batch-wait-ms"),
                                       ("report", "run_dir")])
def test_subcommand_help(name, flag, capsys):
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bilingual {name}") and flag in out
    assert cli.main(["help", name]) == 0
    assert flag in capsys.readouterr().out


def test_wrong_flags_end_with_one_line_and_no_traceback():
    result = run_cli(["translate", "--model", "m", "--src", "en", "--beams", "many", "hi"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("bilingual: error: bilingual translate:")
    assert "invalid int value: 'many'" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(["serve", "--model", str(REPO / "no-such-model"), "--port", "0"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("no config.json there (not a saved model folder)")


def test_known_errors_are_one_line_and_debug_shows_the_exception(tiny_model, tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    assert cli.main(["translate", "--model", str(tiny_model), "--src", "en", "--input", str(missing)]) == 1
    assert capsys.readouterr().err == f"bilingual: error: --input {missing}: no such file\n"
    assert cli.main(["translate", "--model", str(tiny_model), "--src", "en", "--tgt", "en", "hi"]) == 1
    assert "both 'en'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        cli.main(["--debug", "translate", "--model", str(tmp_path), "--src", "en", "hi"])


def test_translate_arguments_match_the_library(tiny_model, translator, capsys, monkeypatch):
    monkeypatch.setenv("BILINGUAL_QUIET", "0")  # restored after the test
    texts = ["I love you.", "Where is Tom?"]
    rc = cli.main(["--quiet", "translate", "--model", str(tiny_model), "--src", "en", "--tgt", "bn",
                   "--max-new-tokens", str(MAX_NEW), *texts])
    assert rc == 0
    assert os.environ.get("BILINGUAL_QUIET") == "1"
    out = capsys.readouterr().out
    assert out.splitlines() == translator.translate(texts, "en", "bn", max_new_tokens=MAX_NEW)


def test_translate_files_keep_line_alignment(tiny_model, translator, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("আমি তোমাকে ভালোবাসি।\n\nটম কোথায়?\n", encoding="utf-8")
    dst = tmp_path / "out" / "en.txt"
    dst.parent.mkdir()
    rc = cli.main(["translate", "--model", str(tiny_model), "--src", "bn", "--input", str(src),
                   "--output", str(dst), "--beams", "2", "--max-new-tokens", str(MAX_NEW)])
    assert rc == 0
    lines = dst.read_text(encoding="utf-8").split("\n")
    expected = translator.translate(["আমি তোমাকে ভালোবাসি।", "টম কোথায়?"], "bn", "en", num_beams=2,
                                    max_new_tokens=MAX_NEW)
    assert lines == [expected[0], "", expected[1], ""]
    captured = capsys.readouterr()
    assert captured.out == "" and "segments" in captured.err  # the summary goes to stderr


def test_translate_reads_stdin_through_the_console_command(tiny_model, translator):
    texts = ["Go.", "Tom is a good boy."]
    result = run_cli(["--quiet", "translate", "--model", str(tiny_model), "--src", "en",
                      "--max-new-tokens", str(MAX_NEW)], input="\n".join(texts) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == translator.translate(texts, "en", "bn", max_new_tokens=MAX_NEW)


def test_report_subcommand_writes_html(tmp_path, capsys):
    (tmp_path / "report.json").write_text(json.dumps({"run_dir": str(tmp_path),
                                                      "stages": [{"name": "build", "seconds": 1.5}]}))
    assert cli.main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").is_file()
    assert cli.main(["report", str(tmp_path / "nope")]) == 1
    assert "no report.json" in capsys.readouterr().err


def test_quiet_is_quiet_but_keeps_the_summary(tmp_path, monkeypatch):
    """`--quiet filter`: no funnel tables, no bars, no library warnings; the one end-of-command summary stays."""
    monkeypatch.delenv("BILINGUAL_QUIET", raising=False)  # an in-process --quiet of an earlier test sets it
    tsv = tmp_path / "pairs.tsv"
    lines = (REPO / "data" / "samples" / "parallel" / "tatoeba-ben-eng.tsv").read_text(encoding="utf-8").splitlines()
    tsv.write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    args = ["filter", "--recipe", str(REPO / "recipes" / "filters" / "default.yaml"), "--input", str(tsv)]
    loud = run_cli([*args, "--output-dir", str(tmp_path / "loud")])
    quiet = run_cli(["--quiet", *args, "--output-dir", str(tmp_path / "quiet")])
    assert loud.returncode == 0 and quiet.returncode == 0, quiet.stderr[-2000:]
    assert "filter funnel" in loud.stdout  # the detail table exists ...
    assert "filter funnel" not in quiet.stdout and "totals" not in quiet.stdout  # ... and --quiet hides it
    assert "kept" in quiet.stdout and "rejected" in quiet.stdout  # the summary is still there
    assert "Warning" not in quiet.stderr and "%|" not in quiet.stderr, quiet.stderr[-2000:]


@pytest.mark.parametrize("blocked, args, extra", [
    ("fastapi", ["serve", "--model", "nowhere"], "serve"),
    ("matplotlib", ["report", "RUN"], "plots"),
])
def test_missing_optional_part_names_the_extra(blocked, args, extra, tmp_path):
    """An optional part that is not installed ends with one line saying which extra installs it."""
    run = tmp_path / "RUN"
    run.mkdir()
    (run / "report.json").write_text(json.dumps({"stages": [], "evaluation": {"en-bn": {"chrf": 1.0}}}))
    code = (f"import sys; sys.modules[{blocked!r}] = None; from bilingual.cli import main; "
            f"sys.exit(main({[a.replace('RUN', str(run)) for a in args]!r}))")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    err = proc.stderr.strip()
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert err.splitlines()[-1].endswith(f'pip install "bilingual[{extra}]"'), err
    assert len(err.splitlines()) == 1, err


def test_quiet_export_prints_no_library_warnings(tiny_model, tmp_path):
    """ONNX export is the noisiest stage (TracerWarning, 'Could not find ONNX initializer', ...): with --quiet
    stderr stays empty and stdout holds the summary."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx*", "ctranslate2", "eval", "README.md"))
    proc = run_cli(["--quiet", "export", str(model)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]
    assert "export of" in proc.stdout and (model / "onnx" / "encoder_model.onnx").is_file()
