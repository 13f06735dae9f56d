"""``xlaug run chain``: compose stages of several commands into one pipeline.

Each ``--step`` is a command name and its own options, e.g.
``--step "backtranslate --model DIR --n 2" --step "filter --max-ratio 2"``.
Input, output, runner options and ``--seed`` are shared by all steps.
In YAML (``--config``): ``step: ["backtranslate --model DIR", "filter"]``.
"""
from __future__ import annotations

import argparse
import importlib
import shlex

HELP = "run several stages in one pipeline (e.g. backtranslate, then filter)"
DESCRIPTION = __doc__
ACCEPTS_BEAM_ARGS = True

STEP_MODULES = {
    "filter": "xlaug.pipelines.filter",
    "backtranslate": "xlaug.pipelines.backtranslate",
    "align": "xlaug.pipelines.align",
    "project": "xlaug.pipelines.project",
    "codeswitch": "xlaug.pipelines.codeswitch",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xlaug.pipelines import common
    common.add_input_arguments(parser)
    common.add_output_arguments(parser)
    common.add_runner_arguments(parser)
    parser.add_argument("--step", action="append", default=[], metavar='"NAME [OPTIONS]"',
                        help=f"a stage and its options; repeat in order. NAME: {', '.join(STEP_MODULES)}")


def step_args(text: str, shared: argparse.Namespace) -> tuple[str, object, argparse.Namespace]:
    """Parse one ``--step`` string with that command's own stage options."""
    from xlaug.pipelines.cli import CliError

    words = shlex.split(text)
    if not words or words[0] not in STEP_MODULES:
        raise CliError(f"--step {text!r}: unknown step (known: {', '.join(STEP_MODULES)})")
    module = importlib.import_module(STEP_MODULES[words[0]])
    parser = argparse.ArgumentParser(prog=f"--step {words[0]}", add_help=False, exit_on_error=False)
    module.add_stage_arguments(parser)
    try:
        ns, rest = parser.parse_known_args(words[1:])
    except argparse.ArgumentError as e:
        raise CliError(f"--step {words[0]}: {e}") from None
    if rest:
        raise CliError(f"--step {words[0]}: unknown option(s) {' '.join(rest)}")
    for key, value in vars(shared).items():
        if not hasattr(ns, key):
            setattr(ns, key, value)
    return words[0], module, ns


def build_stages(args: argparse.Namespace) -> list:
    from xlaug.pipelines.cli import CliError
    if not args.step:
        raise CliError("run chain needs at least one --step")
    stages = []
    for text in args.step:
        _, module, ns = step_args(text, args)
        stages.extend(module.build_stages(ns))
    return stages


def main(args: argparse.Namespace) -> int:
    from xlaug.pipelines.common import run_pipeline
    report = run_pipeline(args, build_stages(args), command="chain")
    return 0 if report["identity_ok"] else 1
