"""``xlaug run chain``: compose stages of several commands into one pipeline.

In a ``--config`` YAML file, ``steps:`` is a list of mappings, one a stage,
each with that command's own options (the same names and checks as on its
command line; null or nothing: the defaults)::

    input: mono.de
    src-lang: de
    tgt-lang: en
    output: out/bt
    steps:
      - backtranslate: {translate-model: Helsinki-NLP/opus-mt-de-en, n: 3}
      - filter: {max-ratio: 2.0}

Input, output, runner options and ``--seed`` are shared by all steps (top
level).  Every problem of the file (shared options, each step's keys and
values, its models) is reported at once, a line each naming the file, the step
and the key, before any work.  The command line wins: its shared options over
the file's, ``--set STEP.KEY=VALUE`` over a step's value (STEP: a name, or a
1-based number), and ``--step`` strings replace the file's steps:
``--step "backtranslate --translate-model DIR --n 2" --step "filter --max-ratio 2"``.
"""
from __future__ import annotations

import argparse
import importlib
import shlex

from xlaug.pipelines.options import Option, text

HELP = "run several stages in one pipeline (e.g. backtranslate, then filter); steps: in YAML"
DESCRIPTION = __doc__

STEP_MODULES = {
    "filter": "xlaug.pipelines.filter",
    "backtranslate": "xlaug.pipelines.backtranslate",
    "align": "xlaug.pipelines.align",
    "project": "xlaug.pipelines.project",
    "codeswitch": "xlaug.pipelines.codeswitch",
}


def step_list(value):
    """YAML ``steps:``: a list of one-key mappings, ``{NAME: {options}}``."""
    if isinstance(value, str):
        from xlaug.pipelines.options import load_yaml_text
        value = load_yaml_text(value, "--steps")
    if not isinstance(value, (list, tuple)):
        raise ValueError("expected a list of steps, e.g. [{filter: {max-ratio: 2.0}}]")
    return list(value)


OPTIONS = (
    Option("steps", step_list, metavar="YAML",
           help="the stages in order, a list of {NAME: {OPTION: VALUE}} (normally the steps: key of --config); "
                f"NAME: {', '.join(STEP_MODULES)}"),
    Option("step", repeat=True, metavar='"NAME [OPTIONS]"',
           help="a stage and its options as a command line; repeat in order (replaces steps:)"),
    Option("set", text, repeat=True, metavar="STEP.KEY=VALUE",
           help="override one option of the steps: steps (STEP: a name or 1-based number), e.g. "
                "--set backtranslate.n=5"),
)


def _warn(prefix):
    def warn(message):
        from xlaug.pipelines.cli import warn as cli_warn
        cli_warn(f"{prefix}{message}")
    return warn


def _shared_names() -> set:
    from xlaug.pipelines.common import SHARED_OPTIONS
    return {n.replace("-", "_") for o in SHARED_OPTIONS for n in (o.name, *o.old)}


def parse_step_string(words_text: str, errors: list):
    """(name, module, Namespace) of one ``--step`` string, or None (problem in ``errors``)."""
    from xlaug.pipelines.options import Parser, add_to_parser, given_on_command_line, resolve, suggest
    from xlaug.transforms.errors import UsageError

    try:
        words = shlex.split(words_text)
    except ValueError as e:  # an unclosed quote
        errors.append(f"--step {words_text!r}: {e}")
        return None
    if not words or words[0] not in STEP_MODULES:
        errors.append(f"--step {words_text!r}: unknown step (known: {', '.join(STEP_MODULES)})")
        return None
    name = words[0]
    module = importlib.import_module(STEP_MODULES[name])
    parser = Parser(prog=f"--step {name}", add_help=False)
    add_to_parser(parser, module.OPTIONS)
    try:
        ns, rest = parser.parse_known_args(words[1:])
    except UsageError as e:
        errors.append(f"--step {name}: {e}")
        return None
    if rest:
        flags = [w for w in rest if w.startswith("-")] or rest
        if flags[0].split("=")[0].lstrip("-").replace("-", "_") in _shared_names():
            errors.append(f"--step {name}: {flags[0]} is shared by all steps: give it before the steps")
        else:
            errors.append(f"--step {name}: unknown option(s) {' '.join(flags)}"
                          + suggest(flags[0].split("=")[0], ["--" + o.name for o in module.OPTIONS]))
        return None
    mine: list = []
    ns = resolve(module.OPTIONS, [(given_on_command_line(ns, module.OPTIONS, _warn(f"--step {name}: ")), "")],
                 errors=mine)
    errors.extend(f"--step {name}: {e}" for e in mine)
    return None if mine else (name, module, ns)


def _apply_sets(steps: list, sets: list, errors: list) -> list:
    """``--set STEP.KEY=VALUE`` onto the steps' mappings (VALUE read as YAML: 3, true, text)."""
    from xlaug.pipelines.options import load_yaml_text
    out = [dict(item) if isinstance(item, dict) else item for item in steps]
    for assignment in sets:
        target, eq, raw = assignment.partition("=")
        step, dot, key = target.partition(".")
        if not eq or not dot or not step or not key:
            errors.append(f"--set {assignment!r}: expected STEP.KEY=VALUE, e.g. filter.max-ratio=2.0")
            continue
        hits = [i for i, item in enumerate(out) if isinstance(item, dict) and len(item) == 1
                and (step == str(i + 1) or step == next(iter(item)))]
        if not hits:
            errors.append(f"--set {assignment!r}: no step {step!r} in steps:")
            continue
        value = load_yaml_text(raw, f"--set {assignment!r}") if raw.strip() else None
        for i in hits:
            name, opts = next(iter(out[i].items()))
            out[i] = {name: {**(opts if isinstance(opts, dict) else {}), key: value}}
    return out


def parse_step_mappings(steps: list, where: str, errors: list) -> list:
    """[(name, module, Namespace)] of YAML steps; every problem goes to ``errors``
    as 'FILE: step N (NAME): KEY: problem'."""
    from xlaug.pipelines.options import given_in_mapping, resolve, suggest
    shared = _shared_names()
    parsed = []
    for i, item in enumerate(steps, 1):
        at = f"{where}step {i}"
        if not isinstance(item, dict) or len(item) != 1:
            errors.append(f"{at}: expected one mapping NAME: {{options}}, e.g. '- filter: {{max-ratio: 2.0}}'")
            continue
        name, opts = next(iter(item.items()))
        name = str(name)
        if name not in STEP_MODULES:
            errors.append(f"{at}: unknown step {name!r}{suggest(name, list(STEP_MODULES))} "
                          f"(known: {', '.join(STEP_MODULES)})")
            continue
        at = f"{at} ({name}): "
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            errors.append(f"{at}expected a mapping of option names to values, got {opts!r}")
            continue
        module = importlib.import_module(STEP_MODULES[name])
        own = {o.dest for o in module.OPTIONS}
        for key in list(opts):
            dest = str(key).replace("-", "_")
            if dest in shared and dest not in own:
                errors.append(f"{at}{key!r} is shared by all steps: give it at the top level")
                opts = {k: v for k, v in opts.items() if k != key}
        before = len(errors)
        values = given_in_mapping(opts, module.OPTIONS, at, _warn(at), errors=errors)
        ns = resolve(module.OPTIONS, [(values, at)], errors=errors)
        # resolve's required-option message has no prefix: give it the step's
        errors[before:] = [e if e.startswith(where) else at + e for e in errors[before:]]
        if len(errors) == before:
            parsed.append((name, module, ns))
    return parsed


def resolve_more(o: argparse.Namespace, errors: list, where: str) -> None:
    """Parse the steps (``--step`` strings, else ``steps:``) into ``o.parsed_steps``,
    adding every problem to ``errors``; the shared options come from ``o``."""
    before = len(errors)
    if o.step:
        parsed = [parse_step_string(t, errors) for t in o.step]
        if o.set:
            errors.append("--set changes steps: of the config file; with --step, give the option in the step")
    elif o.steps:
        parsed = parse_step_mappings(_apply_sets(o.steps, o.set, errors), where, errors)
    else:
        errors.append("run chain needs steps: a steps: list in --config (or --step \"NAME OPTIONS\")")
        parsed = []
    o.parsed_steps = [p for p in parsed if p is not None] if len(errors) == before else []
    o.steps_where = where


def build_stages(o: argparse.Namespace) -> list:
    """Each step's stages, in order; every step's model and file checks run and
    their problems are reported together, before any work."""
    from xlaug.transforms.errors import UsageError
    if not hasattr(o, "parsed_steps"):  # options built without cli.resolve_options
        errors: list = []
        resolve_more(o, errors, "")
        if errors:
            raise UsageError("\n".join(errors))
    where = getattr(o, "steps_where", "")
    stages, errors = [], []
    for i, (name, module, ns) in enumerate(o.parsed_steps, 1):
        for key, value in vars(o).items():
            if not hasattr(ns, key):
                setattr(ns, key, value)
        try:
            stages.extend(module.build_stages(ns))
        except UsageError as e:
            at = f"--step {name}" if o.step else f"{where}step {i} ({name})"
            errors.extend(f"{at}: {line}" for line in str(e).splitlines())
    if errors:
        raise UsageError("\n".join(errors))
    return stages
