"""Dataflow defaults: what a GPU back-translation job needs besides the
user's project/region/bucket.

Workers must get the same pinned stack as the local machine; an unpinned
torch installs the multi-GB CUDA build on every worker start.  Ship a
container image (see runners/Dockerfile) and pass ``--sdk_container_image``.
"""
from __future__ import annotations

REQUIRED = ("--project", "--region", "--temp_location")


def dataflow_flags(user_flags: list[str]) -> list[str]:
    from xlaug.transforms.errors import UsageError

    given = {f.split("=", 1)[0] for f in user_flags}
    missing = [r for r in REQUIRED if r not in given]
    if missing:
        raise UsageError("--runner dataflow needs " + ", ".join(missing)
                       + " (and usually --sdk_container_image built from runners/Dockerfile)")
    flags = []
    if "--experiments" not in given:
        flags.append("--experiments=use_runner_v2")
    return flags


def gpu_flags(accelerator: str = "nvidia-tesla-t4", count: int = 1,
              machine_type: str = "n1-standard-8") -> list[str]:
    """Flags for GPU workers (back-translation, alignment on large corpora)."""
    return [f"--machine_type={machine_type}",
            f"--dataflow_service_options=worker_accelerator=type:{accelerator};count:{count};"
            "install-nvidia-driver",
            # One process per VM so that one model copy owns the GPU.
            "--experiments=no_use_multiple_sdk_containers"]


def job_summary(result, options, stages: list[str], seconds: float) -> str:
    """What a dry run built: the stages, the size of the job graph, and the
    worker options that decide cost and whether models fit (GPUs, image)."""
    from apache_beam.options.pipeline_options import (DebugOptions, GoogleCloudOptions, SetupOptions,
                                                      WorkerOptions)
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    transforms = len(proto.components.transforms) if proto is not None else 0
    gcp, workers = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
    experiments = options.view_as(DebugOptions).experiments or []
    service = gcp.dataflow_service_options or []
    gpu = next((o.split("=", 1)[1] for o in service if o.startswith("worker_accelerator=")), None)
    image = workers.sdk_container_image or "Beam's default (installs requirements on every worker start)"
    size = len(proto.SerializeToString()) if proto is not None else 0
    lines = [
        f"dataflow dry run: job built, not submitted ({seconds:.1f}s)",
        f"  stages:     {' -> '.join(stages)} -> write",
        f"  job graph:  {transforms} transforms, {size / 1024:.0f} KiB with the pickled stages",
        f"  project:    {gcp.project}  region: {gcp.region}  job name: {gcp.job_name or '(generated)'}",
        f"  workers:    {workers.num_workers or 'autoscaled'} (max {workers.max_num_workers or 'default'}), "
        f"machine {workers.machine_type or 'default'}",
        f"  GPUs:       {gpu or 'none'}",
        f"  image:      {image}",
        f"  staging:    {gcp.staging_location or gcp.temp_location}",
        f"  experiments: {', '.join(sorted(experiments)) or 'none'}",
    ]
    reqs = options.view_as(SetupOptions).requirements_file
    if reqs:
        lines.append(f"  requirements: {reqs}")
    return "\n".join(lines)
