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
