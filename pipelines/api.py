"""Python entry point: run any ``xlaug run`` command from code.

    from xlaug.pipelines.api import run
    report = run("filter", input="pairs.tsv", src_lang="en", tgt_lang="de",
                 output="out", max_ratio=2.0, overwrite=True)
    report["kept"], report["rejected_by_reason"]

Keyword names are the command-line options with dashes as underscores;
``True`` turns a flag on, a list repeats an option (``step=[...]``), and
``beam_args`` passes Beam pipeline options through.  Every stage is also a
``xlaug.transforms.stage.Step``: ``step.run(records)`` in plain Python, or
``records | ApplyStep(step)`` (xlaug.transforms.apply) in a Beam pipeline of
your own, with ``ReadCorpus`` to read: see the docs of each stage.
"""
from __future__ import annotations


def to_argv(options: dict) -> list[str]:
    argv = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    return argv


def parse(command: str, **options):
    """The argparse namespace that ``xlaug run COMMAND`` would build."""
    from xlaug.pipelines.cli import CliError, build_parser

    beam_args = list(options.pop("beam_args", []) or [])
    parser = build_parser()
    argv = ["run", command] + to_argv(options)
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "command", None) != command or not hasattr(args, "_module"):
        raise CliError(f"unknown command {command!r}")
    if extra:
        raise CliError(f"unknown option(s) for {command}: {' '.join(extra)}")
    args.beam_args = beam_args
    return args


def run(command: str, **options) -> dict:
    """Run ``xlaug run COMMAND`` with these options; returns the report dict."""
    from xlaug.pipelines.common import run_pipeline

    args = parse(command, **options)
    module = args._module
    if hasattr(module, "check_arguments"):
        module.check_arguments(args)
    return run_pipeline(args, module.build_stages(args), command=command)
