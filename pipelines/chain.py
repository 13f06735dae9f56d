"""``xlaug run chain``: compose stages of several commands into one pipeline.

Each ``--step`` is a command name and its own options, e.g.
``--step "backtranslate --translate-model DIR --n 2" --step "filter --max-ratio 2"``.
Input, output, runner options and ``--seed`` are shared by all steps.
In YAML (``--config``): ``step: ["backtranslate --translate-model DIR", "filter"]``.
"""
from __future__ import annotations

import argparse
import importlib
import shlex

from xlaug.pipelines.options import Option

HELP = "run several stages in one pipeline (e.g. backtranslate, then filter)"
DESCRIPTION = __doc__

STEP_MODULES = {
    "filter": "xlaug.pipelines.filter",
    "backtranslate": "xlaug.pipelines.backtranslate",
    "align": "xlaug.pipelines.align",
    "project": "xlaug.pipelines.project",
    "codeswitch": "xlaug.pipelines.codeswitch",
}

OPTIONS = (
    Option("step", repeat=True, metavar='"NAME [OPTIONS]"',
           help=f"a stage and its options; repeat in order. NAME: {', '.join(STEP_MODULES)}"),
)


def step_args(text: str, shared: argparse.Namespace) -> tuple[str, object, argparse.Namespace]:
    """Parse one ``--step`` string with that command's own stage options; the
    shared options (input, output, runner, seed) come from ``shared``."""
    from xlaug.pipelines.common import SHARED_OPTIONS
    from xlaug.pipelines.options import Parser, add_to_parser, given_on_command_line, resolve, suggest
    from xlaug.transforms.errors import UsageError

    try:
        words = shlex.split(text)
    except ValueError as e:  # an unclosed quote
        raise UsageError(f"--step {text!r}: {e}") from None
    if not words or words[0] not in STEP_MODULES:
        raise UsageError(f"--step {text!r}: unknown step (known: {', '.join(STEP_MODULES)})")
    name = words[0]
    module = importlib.import_module(STEP_MODULES[name])
    parser = Parser(prog=f"--step {name}", add_help=False)
    add_to_parser(parser, module.OPTIONS)
    try:
        ns, rest = parser.parse_known_args(words[1:])
    except UsageError as e:
        raise UsageError(f"--step {name}: {e}") from None
    if rest:
        flags = [w for w in rest if w.startswith("-")] or rest
        shared = {"--" + o.name for o in SHARED_OPTIONS}
        if flags[0].split("=")[0] in shared:
            raise UsageError(f"--step {name}: {flags[0]} is shared by all steps: give it before the steps")
        raise UsageError(f"--step {name}: unknown option(s) {' '.join(flags)}"
                         + suggest(flags[0].split("=")[0], ["--" + o.name for o in module.OPTIONS]))

    def warn(message):
        from xlaug.pipelines.cli import warn as cli_warn
        cli_warn(f"--step {name}: {message}")

    try:
        ns = resolve(module.OPTIONS, [(given_on_command_line(ns, module.OPTIONS, warn), "")])
    except UsageError as e:
        raise UsageError(f"--step {name}: {e}") from None
    for key, value in vars(shared).items():
        if not hasattr(ns, key):
            setattr(ns, key, value)
    return name, module, ns


def build_stages(o: argparse.Namespace) -> list:
    from xlaug.transforms.errors import UsageError
    if not o.step:
        raise UsageError("run chain needs at least one --step")
    steps = [step_args(text, o) for text in o.step]  # every step parses before any model is checked
    stages = []
    for _, module, ns in steps:
        stages.extend(module.build_stages(ns))
    return stages
