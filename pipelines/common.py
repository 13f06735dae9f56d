"""What every ``xlaug run`` command shares: input, output and runner options,
and ``run_pipeline``, which reads the input, applies the stages, writes the
dataset, the rejected records and the report.

Light at import time: Beam is imported inside the functions.
"""
from __future__ import annotations

import argparse


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """--input FILE, --target FILE, --input-format, --src-lang, --tgt-lang, --limit."""
    raise NotImplementedError


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--output DIR, --output-format parquet|jsonl, --splits, --shards, --seed."""
    raise NotImplementedError


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """--runner local|multiprocess|portable|dataflow|NAME, --workers, --config."""
    raise NotImplementedError


def run_pipeline(args: argparse.Namespace, stages: list, *, command: str) -> dict:
    """Read args.input, apply ``stages`` in order (each a PTransform returning
    transforms.stage.StageOutput), write args.output; returns the report dict."""
    raise NotImplementedError
