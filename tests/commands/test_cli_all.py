"""Every `bilingual` subcommand exists after the merge of all stages, has a useful --help, and turns a
wrong flag into a one-line error with a non-zero exit."""

import pytest

from bilingual import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_help_is_useful(name, capsys):
    code = cli.main([name, "--help"])
    out = capsys.readouterr().out
    assert code == 0
    assert "usage:" in out and "--" in out, out
    assert len(out.splitlines()) >= 3


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_wrong_flag_is_one_line(name, capsys):
    code = cli.main([name, "--no-such-flag"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith(f"bilingual: error: bilingual {name}:"), err


def test_quiet_also_silences_datasets_bars():
    """One switch: --quiet turns off our bars and the `datasets` ones (run in a child: it is process-global)."""
    import subprocess
    import sys

    code = ("import datasets; from bilingual import console; assert datasets.is_progress_bar_enabled(); "
            "console.set_quiet(True); assert console.quiet() and not datasets.is_progress_bar_enabled()")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# `train` takes Seq2SeqTrainingArguments-style flags (HfArgumentParser): underscores are its convention
UNDERSCORE_CONVENTION = {"train"}


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_usage_names_the_command_and_flags_are_hyphenated(name, capsys):
    """`bilingual <command>` in the usage line; every flag has a hyphenated spelling (an underscore one may be an
    alias beside it, as Hugging Face scripts spell them)."""
    import re

    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bilingual {name} "), out.splitlines()[0]
    if name in UNDERSCORE_CONVENTION:
        return
    flags = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", out))
    for flag in flags:
        if "_" in flag:
            assert flag.replace("_", "-") in flags, f"{name}: {flag} has no hyphenated spelling"
    assert not out.rstrip().endswith(("(", ",")), "help text stops mid-sentence"


def test_migrate_help_is_complete(capsys):
    assert cli.main(["migrate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "reporting what could not be read." in " ".join(out.split())
    for positional in ("input_dir", "output_dir"):
        line = next(line for line in out.splitlines() if line.strip().startswith(positional))
        assert len(line.split()) > 1, f"{positional} has no help"


def test_a_built_wheel_works_without_the_repository(tmp_path):
    """`pip install .` (non-editable): the console command starts and the recipes and card templates that ship
    as package data resolve; the wheel's venv reuses this environment's dependencies instead of downloading."""
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(repo), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(wheels)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # this environment's packages as a plain path entry (its .pth files, e.g. an editable bilingual, not run)
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site,
                              *map(str, wheels.glob("*.whl"))], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    check = ("import bilingual, bilingual.layout as l, bilingual.workflow as w, yaml\n"
             "assert bilingual.__file__.startswith(%r), bilingual.__file__\n"
             "r = w.PipelineRecipe.model_validate(yaml.safe_load(l.DEFAULT_PIPELINE_RECIPE.read_text()))\n"
             "assert all(p.is_file() for p in (l.MODEL_CARD_TEMPLATE, l.DATASET_CARD_TEMPLATE, l.DEFAULT_PUBLISH_RECIPE,"
             " w.resolve(r.filter_recipe), w.resolve(r.train_config))), l.RECIPES\n" % site)
    proc = subprocess.run([str(python), "-c", check], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([str(python), "-m", "bilingual", "run", "--help"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: bilingual run"), proc.stderr[-2000:]
