import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from xlaug.transforms import spill
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.spill import Spilled


def test_spilled_gives_every_element_of_every_input_once_and_removes_its_files(tmp_path, monkeypatch):
    """Several PCollections (many bundles) through local files: the same
    elements as a Flatten, records and rejections intact; files cut every
    FILE_ELEMENTS elements, each removed once read."""
    monkeypatch.setattr(spill, "FILE_ELEMENTS", 7)
    monkeypatch.setattr(spill, "spill_folder", lambda: str(tmp_path))
    recs = [Record(id=f"f:{i}", src_text=f"s{i}", tgt_text="t", scores={"x": i / 3}) for i in range(40)]
    rejs = [Rejected.of(r, "filter", "too_long", "d") for r in recs[:9]]
    for flag in (True, False):
        with BeamPipeline(runner="BundleBasedDirectRunner") as p:
            a = p | f"A{flag}" >> beam.Create(recs)
            b = p | f"B{flag}" >> beam.Create(rejs)
            out = (a, b) | f"S{flag}" >> Spilled("both", spill=flag)
            assert_that(out | beam.Map(repr), equal_to([repr(x) for x in recs + rejs]))
        assert os.listdir(tmp_path) == []


def test_local_runners_spill_distributed_ones_flatten():
    from apache_beam.options.pipeline_options import PipelineOptions
    for options, spilled in ((["--runner=DirectRunner"], True),
                             (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], False)):
        p = beam.Pipeline(options=PipelineOptions(options))
        (p | "A" >> beam.Create([1]), p | "B" >> beam.Create([2])) | Spilled("all")
        names = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
        assert ("all/Unspill" in names) == spilled and ("all/Flatten" in names) == (not spilled)
