"""Python entry point: run any ``xlaug run`` command from code.

    from xlaug.pipelines.api import run
    report = run("filter", input="pairs.tsv", src_lang="en", tgt_lang="de",
                 output="out", max_ratio=2.0, overwrite=True)
    report["kept"], report["rejected_by_reason"]

Keywords are the command's options with dashes as underscores, as Python
values (``max_ratio=2.0``, ``overwrite=True``, ``step=[...]``), checked by the
same declarations as the command line and YAML; ``config="run.yaml"`` reads a
config file under them, and ``beam_args=[...]`` passes Beam pipeline options.
``run`` and the ``xlaug`` command both call ``run_stages``.  Every stage is
also a ``xlaug.transforms.stage.Step``: ``step.run(records)`` in plain Python,
or ``records | ApplyStep(step)`` (xlaug.transforms.apply) in a Beam pipeline
of your own, with ``ReadCorpus`` to read: see the docs of each stage.
"""
from __future__ import annotations

import argparse


def parse(command: str, *, config: str | None = None, beam_args=(), **options) -> argparse.Namespace:
    """The checked options of ``xlaug run COMMAND`` (defaults filled in)."""
    from xlaug.pipelines.cli import resolve_options
    ns = resolve_options("run", command, keywords=options, config=config, extra=list(beam_args or ()))
    ns.config = config
    return ns


def check_runner(options: argparse.Namespace) -> None:
    """The runner exists and its options hold (Dataflow's project, region, ...)."""
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.runner import create_runner

    from xlaug.runners import pipeline_options
    from xlaug.transforms.errors import UsageError
    name = pipeline_options(options).view_as(StandardOptions).runner
    try:
        create_runner(name)
    except ValueError:
        raise UsageError(f"--runner {options.runner}: no such runner (local, multiprocess, portable, "
                         "dataflow, or a Beam runner name such as FlinkRunner, SparkRunner)") from None


def run_stages(command: str, options: argparse.Namespace) -> dict:
    """Check the runner, build ``command``'s stages from checked options
    (models and files checked before any work), run them with
    ``run_pipeline``; the report dict."""
    from xlaug.pipelines.cli import command_module
    from xlaug.pipelines.common import run_pipeline
    if options.runner == "multiprocess" and not getattr(options, "dry_run", False):
        import os

        from xlaug.runners import warm
        # The workers import Beam while this process imports it and builds the graph.
        warm.start(getattr(options, "workers", 0) or os.cpu_count() or 2)
    check_runner(options)
    stages = command_module("run", command).build_stages(options)
    return run_pipeline(options, stages, command=command)


def run(command: str, *, config: str | None = None, beam_args=(), **options) -> dict:
    """Run ``xlaug run COMMAND`` with these options; returns the report dict."""
    return run_stages(command, parse(command, config=config, beam_args=beam_args, **options))
