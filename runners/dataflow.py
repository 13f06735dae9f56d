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


# Compute Engine attaches each GPU kind to one machine family: T4, P4, P100
# and V100 to N1; L4 to G2; A100 to A2; H100 to A3.  A job that pairs a GPU
# with another family is refused when Dataflow starts the workers.
GPU_MACHINES = {
    "nvidia-l4": "g2-standard-{g2}",
    "nvidia-tesla-a100": "a2-highgpu-{count}g",
    "nvidia-a100-80gb": "a2-ultragpu-{count}g",
    "nvidia-h100-80gb": "a3-highgpu-{count}g",
    "nvidia-h100-mega-80gb": "a3-megagpu-8g",
}
N1_MACHINE = "n1-standard-8"


def gpu_machine(accelerator: str, count: int = 1) -> str:
    """A machine type the accelerator can attach to (the user's --machine_type wins)."""
    pattern = GPU_MACHINES.get(accelerator, N1_MACHINE)
    g2 = {1: 8, 2: 24, 4: 48, 8: 96}.get(count, 8)  # G2 sizes by the L4s they hold
    return pattern.replace("{g2}", str(g2)).replace("{count}", str(count))


def gpu_flags(accelerator: str = "nvidia-tesla-t4", count: int = 1, user_flags: list[str] = ()) -> list[str]:
    """Flags for GPU workers (back-translation, alignment on large corpora).

    One SDK process per worker VM (``no_use_multiple_sdk_containers``): by
    default Dataflow starts one Python process per vCPU, each loading its own
    model copy onto the same GPU, which runs out of GPU memory or fails with
    tensors on two devices (Beam issue 22895).  With one process, its threads
    share one model copy (xlaug loads each model once per process)."""
    given = {f.split("=", 1)[0] for f in user_flags}
    flags = [] if "--machine_type" in given else [f"--machine_type={gpu_machine(accelerator, count)}"]
    return flags + [
        f"--dataflow_service_options=worker_accelerator=type:{accelerator};count:{count};install-nvidia-driver",
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
