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
