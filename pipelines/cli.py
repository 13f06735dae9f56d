"""The ``xlaug`` command line.

Each command lives in its own module with ``HELP``, ``add_arguments(parser)``
and ``main(args) -> int``.  Those modules import Beam, torch and the models
inside ``main`` only, so ``xlaug --help`` answers in a fraction of a second.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from xlaug.transforms.errors import UsageError

# (group, command) -> module
COMMANDS = {
    ("run", "filter"): "xlaug.pipelines.filter",
    ("run", "backtranslate"): "xlaug.pipelines.backtranslate",
    ("run", "align"): "xlaug.pipelines.align",
    ("run", "project"): "xlaug.pipelines.project",
    ("run", "codeswitch"): "xlaug.pipelines.codeswitch",
    ("run", "chain"): "xlaug.pipelines.chain",
    ("eval", "align"): "xlaug.pipelines.eval_align",
    ("eval", "project"): "xlaug.pipelines.eval_project",
    ("dict", "induce"): "xlaug.pipelines.dict_induce",
}
GROUPS = {
    "run": "run a pipeline on a corpus (local runner by default; Beam runner options pass through)",
    "eval": "measure quality against gold data",
    "dict": "build bilingual lexicons",
}


# The CLI's name for the library's user error (one line, exit status 2).
CliError = UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xlaug",
        description="Synthetic data for cross-lingual NLP on Apache Beam: back-translation, "
                    "annotation projection, code-switching and quality filtering.")
    groups = parser.add_subparsers(dest="group", metavar="{" + ",".join(GROUPS) + "}")
    group_parsers = {}
    for name, help_text in GROUPS.items():
        gp = groups.add_parser(name, help=help_text, description=help_text)
        group_parsers[name] = gp.add_subparsers(dest="command", metavar="COMMAND")
    for (group, command), module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue  # command not built in this version
            raise
        sub = group_parsers[group].add_parser(
            command, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def apply_config(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """``--config FILE``: YAML keys become option defaults; the command line wins."""
    if "--config" not in argv and not any(a.startswith("--config=") for a in argv):
        return
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    from xlaug.pipelines.config import load_config
    ns, _ = parser.parse_known_args(argv)
    sub = _subparser(parser, ns)
    if sub is None:
        raise CliError("--config needs a command, e.g. xlaug run filter --config FILE")
    sub.set_defaults(**load_config(known.config, sub))


def _subparser(parser, ns):
    group = getattr(ns, "group", None)
    command = getattr(ns, "command", None)
    for action in parser._subparsers._group_actions:
        gp = action.choices.get(group) if group else None
        if gp is None:
            return None
        for a2 in gp._subparsers._group_actions:
            return a2.choices.get(command)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        apply_config(parser, argv)
        args, extra = parser.parse_known_args(argv)
        if not hasattr(args, "_module"):
            parser.print_help()
            return 2
        args.beam_args = extra
        if extra and not getattr(args._module, "ACCEPTS_BEAM_ARGS", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return int(args._module.main(args) or 0)
    except CliError as e:
        print(f"xlaug: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run through the imported module, so its CliError is the one the
    # command modules raise (python -m would otherwise load this file twice).
    from xlaug.pipelines.cli import main as _main
    sys.exit(_main())
