"""How a pipeline is run: local defaults, portable runner, Dataflow, others.

``pipeline_options(args)`` turns xlaug's ``--runner``/``--workers`` and the
Beam options the user passed through into ``PipelineOptions``.
"""
from __future__ import annotations

import os


# Beam 2.77's DaskRunner loses records with exit status 0: tagged outputs are
# not routed, elements emitted in finish_bundle are dropped (BatchElements over
# 1,000 elements gave 800; RunInference 176 of 200) and only the last sink runs.
DASK_REFUSED = ("Beam's DaskRunner (2.77) loses records silently (tagged outputs not routed, "
                "finish_bundle output dropped, only the last sink written); use local, multiprocess, "
                "portable, dataflow, or Flink/Spark through Beam")


def refuse_unsafe(runner: str | None) -> None:
    """One line for a runner xlaug will not run on."""
    if runner and "dask" in str(runner).lower():
        from xlaug.transforms.errors import UsageError
        raise UsageError(f"--runner {runner}: not offered: {DASK_REFUSED}")


PROCESS_REFUSED = ("Beam's embedded Python job server (--runner portable) cannot start PROCESS workers "
                   "(it has no handler for beam:env:process:v1); PROCESS is for a Java job server "
                   "(Flink, Spark: --job_endpoint=HOST:PORT). Here use --environment_type=EXTERNAL with "
                   "Beam's worker pool, or --environment_type=beam:env:harness_subprocess_python:v1 "
                   "--environment_config='python -m apache_beam.runners.worker.sdk_worker_main'")


def check_environment(options) -> None:
    """One line for a worker environment the chosen job server cannot start."""
    from apache_beam.options.pipeline_options import PortableOptions
    portable = options.view_as(PortableOptions)
    env = (portable.environment_type or "").strip()
    if portable.job_endpoint == "embed" and env in ("PROCESS", "beam:env:process:v1"):
        from xlaug.transforms.errors import UsageError
        raise UsageError(f"--environment_type={env}: {PROCESS_REFUSED}")


LOCAL_RUNNER = "--runner=xlaug.runners.local.XlaugDirectRunner"


def runner_flags(runner: str, workers: int = 0) -> list[str]:
    """Beam flags for xlaug's runner names; other names pass through as-is."""
    refuse_unsafe(runner)
    if runner == "local":
        # Beam's direct runner without its try on Prism (runners/local.py).
        flags = [LOCAL_RUNNER]
        if workers:
            flags += ["--direct_running_mode=multi_threading", f"--direct_num_workers={workers}"]
        return flags
    if runner == "multiprocess":
        return [LOCAL_RUNNER, "--direct_running_mode=multi_processing",
                f"--direct_num_workers={workers or os.cpu_count() or 2}"]
    if runner == "portable":
        flags = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]
        return flags
    if runner == "dataflow":
        return ["--runner=DataflowRunner"]
    return [f"--runner={runner}"]


def pipeline_options(args):
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = runner_flags(args.runner, getattr(args, "workers", 0))
    extra = list(getattr(args, "beam_args", []) or [])
    if args.runner == "dataflow":
        from xlaug.runners.dataflow import dataflow_flags, gpu_flags
        flags += dataflow_flags(extra)
        gpu = getattr(args, "dataflow_gpu", None)
        if gpu:
            kind, _, count = gpu.partition(":")
            flags += gpu_flags(kind, int(count or 1), extra)
        if getattr(args, "dry_run", False):
            flags.append("--dry_run=True")  # Beam builds the whole job and stops before submitting
    options = PipelineOptions(flags + extra)
    from apache_beam.options.pipeline_options import StandardOptions
    refuse_unsafe(options.view_as(StandardOptions).runner)  # also --runner=... among Beam options
    check_environment(options)
    return options
