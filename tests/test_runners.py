import argparse

import pytest

from xlaug.pipelines.cli import CliError
from xlaug.runners import pipeline_options, runner_flags


def _args(runner, beam_args=(), workers=0, gpu=None):
    return argparse.Namespace(runner=runner, workers=workers, beam_args=list(beam_args), dataflow_gpu=gpu)


def test_local_runner_never_asks_for_prism():
    assert runner_flags("local") == ["--runner=xlaug.runners.local.XlaugDirectRunner"]
    assert "--direct_running_mode=multi_processing" in runner_flags("multiprocess", 3)
    assert "--environment_type=LOOPBACK" in runner_flags("portable")
    assert runner_flags("FlinkRunner") == ["--runner=FlinkRunner"]


def test_beam_options_pass_through():
    opts = pipeline_options(_args("local", ["--direct_num_workers=1", "--job_name=x"])).get_all_options()
    assert opts["runner"] == "xlaug.runners.local.XlaugDirectRunner" and opts["job_name"] == "x"


def test_dataflow_needs_project_region_and_temp_location():
    with pytest.raises(CliError, match="--project, --region, --temp_location"):
        pipeline_options(_args("dataflow"))


def test_dataflow_gpu_flags():
    opts = pipeline_options(_args("dataflow", ["--project=p", "--region=r", "--temp_location=gs://b/t"],
                                  gpu="nvidia-l4:2")).get_all_options()
    assert opts["runner"] == "DataflowRunner"
    assert any("worker_accelerator=type:nvidia-l4;count:2" in o for o in opts["dataflow_service_options"])


@pytest.mark.parametrize("runner", ["dask", "DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner"])
def test_dask_runner_is_refused_in_one_line(runner, tmp_path, capsys):
    from xlaug.pipelines.cli import main
    src = tmp_path / "p.tsv"
    src.write_text("a small house .\tein kleines Haus .\n", encoding="utf-8")
    out = tmp_path / "o"
    code = main(["run", "filter", "--input", str(src), "--src-lang", "en", "--tgt-lang", "de",
                 "--output", str(out), "--runner", runner])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "loses records silently" in err[0] and runner in err[0]
    assert not out.exists()
    # The same runner named among the Beam options that pass through.
    with pytest.raises(CliError, match="DaskRunner"):
        pipeline_options(_args("local", [f"--runner={runner if '.' in runner else 'DaskRunner'}"]))


@pytest.mark.parametrize("runner", ["local", "multiprocess"])
def test_local_runners_never_try_prism(monkeypatch, tmp_path, runner):
    """Beam's DirectRunner tries Prism first (a download, then another
    runner than the one tested); xlaug's local runners go straight to Beam's
    own in-memory runner.  Beam's DirectRunner is the control."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability import prism_runner

    tried = []

    def no_prism(self, *args, **kwargs):
        tried.append(1)
        raise RuntimeError("no Prism in this test")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", no_prism)

    def run(flags):
        with beam.Pipeline(options=PipelineOptions(flags)) as p:
            p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2)

    run(["--runner=DirectRunner"])
    assert tried == [1]  # the control: Beam's own DirectRunner asks Prism first
    tried.clear()
    run(runner_flags(runner, 2))
    assert tried == []


def test_multiprocess_run_takes_workers_started_ahead_and_ends_unused_ones(tmp_path):
    """`--runner multiprocess` starts its worker processes before the graph
    is built; Beam's launch of its worker command takes them (none left
    waiting), the dataset equals an in-process run's, and a waiting process
    nobody takes ends when its stdin closes (the driver exiting)."""
    import json
    import os

    from xlaug.pipelines.api import run
    from xlaug.runners import warm
    src = tmp_path / "p.tsv"
    src.write_text("".join(f"the house number {i} is red\tdas Haus Nummer {i} ist rot\n" for i in range(40)))
    rows, before = {}, warm.taken()
    for runner in ("local", "multiprocess"):
        out = tmp_path / runner
        report = run("filter", input=str(src), src_lang="en", tgt_lang="de", output=str(out), runner=runner,
                     workers=2, output_format="jsonl")
        assert report["read"] == 40 and report["identity_ok"]
        rows[runner] = sorted(json.loads(l)["id"] for f in sorted(os.listdir(out / "data"))
                              for l in open(out / "data" / f))
        if runner == "multiprocess":
            assert warm.taken() == before + 2 and warm.waiting() == 0
    assert rows["multiprocess"] == rows["local"] and len(rows["local"]) == report["kept"]
    # Another command is not given a waiting process; a closed stdin (the
    # driver killed) ends one quietly; at exit the rest are ended.
    warm.start(2)
    assert warm._take("python -m something_else", dict(os.environ)) is None and warm.waiting() == 2
    orphan, other = warm._waiting
    orphan.stdin.close()
    assert orphan.wait(timeout=60) == 0
    warm._end_waiting()
    assert other.poll() is not None and warm.waiting() == 0


def test_local_runner_skips_the_graph_round_trip_as_beams_direct_runner_does(monkeypatch):
    """Beam re-builds the graph from its proto before running (a check) except
    for its own direct runner in batch; xlaug's runner is skipped the same.
    Control: a runner that does not say it runs on the Fn API is round-tripped."""
    import apache_beam as beam
    import apache_beam.pipeline as bp
    from apache_beam.options.pipeline_options import PipelineOptions

    from xlaug.runners.local import XlaugDirectRunner
    calls = []
    original = bp.Pipeline.from_runner_api
    monkeypatch.setattr(bp.Pipeline, "from_runner_api",
                        staticmethod(lambda *a, **k: (calls.append(1), original(*a, **k))[1]))

    def round_trips():
        calls.clear()
        with beam.Pipeline(options=PipelineOptions(runner="xlaug.runners.local.XlaugDirectRunner")) as p:
            assert_out = p | beam.Create([1, 2]) | beam.Map(lambda x: x * 2)
            from apache_beam.testing.util import assert_that, equal_to
            assert_that(assert_out, equal_to([2, 4]))
        return len(calls)

    assert round_trips() == 0
    monkeypatch.setattr(XlaugDirectRunner, "is_fnapi_compatible", lambda self: False)
    assert round_trips() == 1
