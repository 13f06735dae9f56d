import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from xlaug.transforms import spill
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.spill import Spilled


def test_spilled_gives_every_element_of_every_input_once_and_keeps_its_files_until_released(tmp_path, monkeypatch):
    """Several PCollections (many bundles) through local files: the same
    elements as a Flatten, records and rejections intact; files cut every
    FILE_ELEMENTS elements.  The files outlive their first reading (a
    retried bundle reads them again, with the same elements) and go with
    ``release``."""
    monkeypatch.setattr(spill, "FILE_ELEMENTS", 7)
    monkeypatch.setattr(spill, "_root", lambda: str(tmp_path))
    recs = [Record(id=f"f:{i}", src_text=f"s{i}", tgt_text="t", scores={"x": i / 3}) for i in range(40)]
    rejs = [Rejected.of(r, "filter", "too_long", "d") for r in recs[:9]]
    for flag in (True, False):
        p = BeamPipeline(runner="BundleBasedDirectRunner")
        a = p | f"A{flag}" >> beam.Create(recs)
        b = p | f"B{flag}" >> beam.Create(rejs)
        out = (a, b) | f"S{flag}" >> Spilled("both", spill=flag)
        assert_that(out | beam.Map(repr), equal_to([repr(x) for x in recs + rejs]))
        p.run().wait_until_finish()
        folders = os.listdir(tmp_path)
        assert len(folders) == (1 if flag else 0)
        if flag:
            folder = os.path.join(tmp_path, folders[0])
            files = [os.path.join(folder, n) for n in os.listdir(folder)]
            assert len(files) >= 49 // 7
            first = [x for f in sorted(files) for x in spill.unspill(f)]
            again = [x for f in sorted(files) for x in spill.unspill(f)]
            assert sorted(map(repr, first)) == sorted(map(repr, recs + rejs))
            assert list(map(repr, again)) == list(map(repr, first))
        spill.release(p)
        assert os.listdir(tmp_path) == []


def test_stale_spill_folders_of_dead_processes_are_removed(tmp_path):
    """A driver killed with SIGKILL leaves its folder: the next run removes
    it (its pid is gone, or now names a process started at another time);
    folders of live processes, and other names, stay."""
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    me = os.getpid()
    mine_started = spill._start_time(me)
    names = {"dead": f"xlaug-spill-{child.pid}-123-abc", "reused": f"xlaug-spill-{me}-1{mine_started}-abc",
             "live": f"xlaug-spill-{me}-{mine_started}-abc", "other": "xlaug-spill-notmine", "unrelated": "keep-me"}
    for name in names.values():
        os.makedirs(os.path.join(tmp_path, name, "sub"))
        with open(os.path.join(tmp_path, name, "sub", "f"), "wb") as f:
            f.write(b"x")
    removed = spill.remove_stale(str(tmp_path))
    assert sorted(removed) == sorted(os.path.join(tmp_path, names[k]) for k in ("dead", "reused"))
    assert sorted(os.listdir(tmp_path)) == sorted(names[k] for k in ("live", "other", "unrelated"))


def test_a_run_releases_its_spilled_data(tmp_path, monkeypatch):
    """``xlaug run`` (through run_to_end) removes a pipeline's spill folder
    when it ends; the process's folder stays for the next pipeline."""
    from xlaug.pipelines.common import run_to_end
    monkeypatch.setattr(spill, "_root", lambda: str(tmp_path))
    p = BeamPipeline(runner="BundleBasedDirectRunner")
    out = (p | beam.Create(range(20))) | Spilled("s", spill=True)
    assert_that(out, equal_to(list(range(20))))
    assert len(os.listdir(tmp_path)) == 1  # made while the graph was built
    run_to_end(p)
    assert os.listdir(tmp_path) == []


def test_local_runners_spill_distributed_ones_flatten():
    from apache_beam.options.pipeline_options import PipelineOptions
    for options, spilled in ((["--runner=DirectRunner"], True),
                             (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], False)):
        p = beam.Pipeline(options=PipelineOptions(options))
        (p | "A" >> beam.Create([1]), p | "B" >> beam.Create([2])) | Spilled("all")
        names = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
        assert ("all/Unspill" in names) == spilled and ("all/Flatten" in names) == (not spilled)
