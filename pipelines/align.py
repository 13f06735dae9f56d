"""``xlaug run align``: word-align a parallel corpus (links, a similarity per
link, and an alignment-coverage score on each record)."""
from __future__ import annotations

HELP = "word-align a parallel corpus with a multilingual encoder (SimAlign methods, batched)"
ACCEPTS_BEAM_ARGS = True


def add_stage_arguments(parser) -> None:
    from xlaug.pipelines.align_args import add_align_arguments
    add_align_arguments(parser)


def add_arguments(parser) -> None:
    from xlaug.pipelines import common
    common.add_input_arguments(parser)
    common.add_output_arguments(parser)
    common.add_runner_arguments(parser)
    add_stage_arguments(parser)


def build_stages(args) -> list:
    from xlaug.pipelines.align_args import align_step_from_args
    return [align_step_from_args(args)]


def main(args) -> int:
    from xlaug.pipelines.common import run_pipeline
    report = run_pipeline(args, build_stages(args), command="align")
    return 0 if report["identity_ok"] else 1
