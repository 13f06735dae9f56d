"""runners/: the Dataflow GPU profile's pipeline options and the worker
image's pins (runners/Dockerfile against pyproject.toml)."""
import argparse
import os
import re
import sys

import pytest

from xlaug.runners import pipeline_options
from xlaug.runners.dataflow import gpu_machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLOUD = ["--project=p-123456", "--region=europe-west4", "--temp_location=gs://b/tmp"]


def options(beam_args=(), gpu=None):
    args = argparse.Namespace(runner="dataflow", workers=0, beam_args=CLOUD + list(beam_args), dataflow_gpu=gpu)
    return pipeline_options(args).get_all_options()


def test_gpu_profile_runs_one_sdk_process_per_worker_with_the_driver_installed():
    o = options(gpu="nvidia-tesla-t4:2")
    # Beam issue 22895: several SDK processes on a GPU VM each load a model onto the GPU.
    assert "no_use_multiple_sdk_containers" in o["experiments"]
    assert "use_runner_v2" in o["experiments"]
    assert o["dataflow_service_options"] == ["worker_accelerator=type:nvidia-tesla-t4;count:2;install-nvidia-driver"]
    assert o["machine_type"] == "n1-standard-8"
    plain = options()
    assert "no_use_multiple_sdk_containers" not in plain["experiments"] and not plain["dataflow_service_options"]
    assert plain["machine_type"] is None  # Dataflow's default CPU machine


def test_gpu_profile_keeps_the_users_options():
    o = options(["--machine_type=g2-standard-16", "--experiments=shuffle_mode=service",
                 "--number_of_worker_harness_threads=4"], gpu="nvidia-l4")
    assert o["machine_type"] == "g2-standard-16"
    assert {"no_use_multiple_sdk_containers", "shuffle_mode=service"} <= set(o["experiments"])
    assert o["number_of_worker_harness_threads"] == 4


@pytest.mark.parametrize("gpu,machine", [("nvidia-tesla-t4", "n1-standard-8"), ("nvidia-tesla-v100:2", "n1-standard-8"),
                                         ("nvidia-l4", "g2-standard-8"), ("nvidia-l4:4", "g2-standard-48"),
                                         ("nvidia-tesla-a100:2", "a2-highgpu-2g"),
                                         ("nvidia-h100-80gb:8", "a3-highgpu-8g")])
def test_gpu_profile_picks_a_machine_family_the_gpu_attaches_to(gpu, machine):
    kind, _, count = gpu.partition(":")
    assert gpu_machine(kind, int(count or 1)) == machine
    assert options(gpu=gpu)["machine_type"] == machine


def _pyproject():
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _pin(deps, name):
    for d in deps:
        m = re.match(rf"^{re.escape(name)}(\[[^\]]*\])?==([^\s;]+)", d)
        if m:
            return m.group(2)
    raise AssertionError(f"{name} is not pinned in pyproject.toml")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_worker_image_pins_match_pyproject():
    with open(os.path.join(ROOT, "runners", "Dockerfile"), encoding="utf-8") as f:
        docker = f.read()
    project = _pyproject()
    deps = project["project"]["dependencies"]
    base = re.search(r"^FROM apache/beam_python(\d+)\.(\d+)_sdk:(\S+)$", docker, re.M)
    assert base, "the image starts from Beam's Python SDK image"
    py, beam = (int(base.group(1)), int(base.group(2))), base.group(3)
    # The SDK in the image is the one the launcher pins (and runs here).
    assert beam == _pin(deps, "apache-beam") == _pin(project["project"]["optional-dependencies"]["gcp"], "apache-beam")
    import apache_beam
    assert apache_beam.__version__ == beam
    # Its Python is one pyproject allows.
    low = tuple(int(x) for x in re.match(r">=(\d+)\.(\d+)", project["project"]["requires-python"]).groups())
    assert py >= low
    # torch installed before the project, at the project's pin.
    torch = re.search(r"pip install [^\n]*\btorch==(\S+)", docker)
    assert torch and torch.group(1) == _pin(deps, "torch")
    # Every folder of the package goes in, and the project installs at its own pins.
    for folder in project["tool"]["setuptools"]["package-dir"].values():
        assert re.search(rf"^COPY {re.escape(folder)} {re.escape(folder)}$", docker, re.M), folder
    assert 'pip install --no-cache-dir ".[gcp]"' in docker
