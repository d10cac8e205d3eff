"""The `bilingual` console command: one entry point that dispatches to each stage's `main(argv)`.

Command modules are imported only when their subcommand runs, so `bilingual --help` stays fast and a
stage that fails to import never breaks the others. Expected failures (a wrong flag, a missing file,
a bad value) end with one line on stderr and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from typing import Callable, Optional, Sequence

# subcommand -> (module in bilingual.commands, or a full module path, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "download-wiki": ("download_wiki", "download Wikipedia dumps (bn, en) and langlinks"),
    "collect-wiki": ("collect_wiki", "extract Wikipedia articles into Document shards"),
    "mine": ("mine", "mine parallel sentences from linked Wikipedia articles or a bilingual site's crawls"),
    "align": ("align", "align sentences of linked bn/en articles"),
    "scrape": ("scrape", "crawl the configured web sources (robots.txt, rate limits)"),
    "migrate": ("migrate", "migrate data written by the old pipeline"),
    "build": ("build_corpus", "assemble the parallel corpus from raw snapshots"),
    "filter": ("filter", "run a filter recipe: kept + rejects with reasons + stats"),
    "train-tokenizer": ("train_tokenizer", "train the shared bn+en tokenizer"),
    "train": ("train", "train the translation model (also: accelerate launch scripts/train.py)"),
    "evaluate": ("evaluate", "score a model with sacreBLEU (BLEU, chrF, chrF++)"),
    "export": ("export_onnx", "export a model to ONNX and check parity"),
    "card": ("card", "write the model card"),
    "publish": ("publish", "publish dataset, tokenizer and model to the Hub or a folder"),
    "run": ("run_pipeline", "run the whole pipeline on a recipe (default: bundled samples)"),
    "translate": ("translate", "translate text from arguments, stdin or a file"),
    "serve": ("serve", "serve a model over HTTP (FastAPI): /translate, /detect-language, /health, /metrics"),
    "report": ("bilingual.reporting.html", "write report.html (plots, funnel, scores) beside a run's report.json"),
}


# optional Python module -> the extra that installs it (setup.cfg [options.extras_require])
OPTIONAL_MODULES = {"fastapi": "serve", "uvicorn": "serve", "prometheus_client": "serve", "starlette": "serve",
                    "ctranslate2": "ctranslate2", "matplotlib": "plots"}


def missing_extra(exc: ImportError) -> Optional[str]:
    """'needs X: pip install "bilingual[extra]"' when `exc` is an optional part that is not installed."""
    top = (getattr(exc, "name", None) or "").split(".")[0]
    extra = OPTIONAL_MODULES.get(top)
    return f'this needs the optional package {top!r}: pip install "bilingual[{extra}]"' if extra else None


class UsageError(Exception):
    """A command-line mistake reported by argparse inside a subcommand."""


class CommandUnavailable(Exception):
    pass


def _known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, ValueError, LookupError, UsageError, CommandUnavailable]
    with contextlib.suppress(ImportError):
        import yaml

        errors.append(yaml.YAMLError)
    return tuple(errors)


def _is_ours(exc: BaseException) -> bool:
    """Errors defined in the bilingual package are expected failures with a useful message."""
    return any(cls.__module__.split(".")[0] == "bilingual" for cls in type(exc).__mro__ if cls is not BaseException)


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name.ljust(width)}  {desc}" for name, (_, desc) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="bilingual",
        usage="bilingual [--quiet] [--debug] [--version] <command> [args...]",
        description="Bangla-English corpus and translation-model pipeline.",
        epilog=f"commands:\n{listing}\n\n'bilingual <command> --help' shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=True,
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars (summaries are still printed)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def load_command(name: str) -> Callable[[Optional[list[str]]], Optional[int]]:
    """The `main` of a subcommand's module, imported now."""
    module = COMMANDS[name][0]
    module_name = module if module.startswith("bilingual.") else f"bilingual.commands.{module}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise CommandUnavailable(f"subcommand {name} is not available: {module_name} is missing") from exc
        if missing_extra(exc):
            raise CommandUnavailable(f"subcommand {name}: {missing_extra(exc)}") from exc
        raise CommandUnavailable(f"subcommand {name} cannot start: {module_name} needs the missing Python "
                                 f"module {exc.name!r} (pip install -e . installs the dependencies)") from exc
    main = getattr(module, "main", None)
    if not callable(main):
        raise CommandUnavailable(f"subcommand {name} is not available: {module_name} has no main(argv)")
    return main


@contextlib.contextmanager
def _argparse_raises(prog: str):
    """Inside a subcommand, argparse errors raise UsageError (one line) instead of printing usage + exiting,
    and help/usage show `bilingual <command>` as the program name."""
    original_error = argparse.ArgumentParser.error
    original_argv0 = sys.argv[0] if sys.argv else ""

    def error(self, message):  # name the command as the user typed it, whatever prog the parser set
        raise UsageError(f"{prog}: {message} (see '{prog} --help')")

    argparse.ArgumentParser.error = error
    if sys.argv:
        sys.argv[0] = prog
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original_error
        if sys.argv:
            sys.argv[0] = original_argv0


def _fail(message: str, code: int = 1) -> int:
    first = " ".join(str(message).split()) or "failed"
    print(f"bilingual: error: {first}", file=sys.stderr)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # global options are those before the subcommand name
    split = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    head, rest = argv[:split], argv[split:]
    parser = _top_parser()
    try:
        opts, unknown = parser.parse_known_args(head)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if unknown:
        return _fail(f"unknown option {unknown[0]!r} before the command (see 'bilingual --help')", 2)
    if opts.version:
        from bilingual import __version__

        print(f"bilingual {__version__}")
        return 0
    if not rest:
        parser.print_help(sys.stderr)
        return 2
    name, sub_argv = rest[0], rest[1:]
    if name == "help":
        if not sub_argv:
            parser.print_help()
            return 0
        name, sub_argv = sub_argv[0], ["--help"]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; see 'bilingual --help'"
        return _fail(f"unknown command {name!r}{hint}", 2)
    if opts.quiet:
        from bilingual.console import set_quiet

        set_quiet(True)
    try:
        command = load_command(name)
        with _argparse_raises(f"bilingual {name}"):
            code = command(sub_argv)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        return _fail(str(code))
    except KeyboardInterrupt:
        print("bilingual: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        if opts.debug:
            raise
        return _fail(str(exc), 2)
    except ImportError as exc:  # an optional part imported lazily, deep in a stage
        if opts.debug or not missing_extra(exc):
            raise
        return _fail(f"bilingual {name}: {missing_extra(exc)}")
    except BaseException as exc:  # noqa: BLE001 - known failures become one line, others keep the traceback
        if opts.debug or not (isinstance(exc, _known_errors()) or _is_ours(exc)):
            raise
        return _fail(_describe(exc))
    return int(code or 0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}" if exc.args else "missing key"
    message = str(exc).strip()
    if isinstance(exc, (OSError, ValueError)) or _is_ours(exc) or isinstance(exc, (CommandUnavailable, UsageError)):
        return message or type(exc).__name__
    return f"{message} ({type(exc).__name__})" if message else type(exc).__name__


def run_script(path: str) -> int:
    """`scripts/<module>.py` entry: the same dispatch (and one-line errors) as `bilingual <command>`."""
    from pathlib import Path

    stem = Path(path).stem
    name = next(n for n, (module, _) in COMMANDS.items() if module.rsplit(".", 1)[-1] == stem)
    return main([name, *sys.argv[1:]])


if __name__ == "__main__":  # python -m bilingual.cli
    sys.exit(main())
