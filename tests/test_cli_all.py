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
