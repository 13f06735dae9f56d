"""The filter stages give the same result on every local runner mode."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from xlaug.transforms.dedup import Dedup
from xlaug.transforms.filter_step import FilterStep
from xlaug.transforms.filters import build_filters
from xlaug.transforms.record import Record
from xlaug.transforms.sampling import Sampling
from xlaug.transforms.apply import ApplyStep

EN = ["The committee adopted the report on agricultural policy yesterday.",
      "Parliament will vote on the proposal next week in Strasbourg.",
      "The president thanked the members for the constructive debate."]
DE = ["Der Ausschuss hat den Bericht über die Agrarpolitik gestern angenommen.",
      "Das Parlament stimmt nächste Woche in Straßburg über den Vorschlag ab.",
      "Der Präsident dankte den Mitgliedern für die konstruktive Aussprache."]

RUNNERS = {
    "multiprocess": ["--runner=DirectRunner", "--direct_num_workers=2",
                     "--direct_running_mode=multi_processing"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed",
                 "--environment_type=LOOPBACK"],
}


def corpus():
    out = []
    for i in range(60):
        k = i % 3
        src, tgt = EN[k], DE[k]
        if i % 3 == 1:  # unique pairs (half of them too long), the rest duplicates
            code = f"{chr(97 + i % 26)}{chr(97 + i // 26)}"
            src = f"{src} Item {code}." if i % 2 else f"{src} Item {code} and a few more words."
        lang = "fr" if i % 10 == 0 else "de"  # a separate dedup key
        out.append(Record(id=str(i), src_lang="en", tgt_lang=lang, src_text=src, tgt_text=tgt))
    return out


# langid's model takes seconds to load in every worker process; the length
# filter exercises the same step machinery (langid pickling has its own test).
FILTERS = {"length": {"max_tokens": 12}}


def expected():
    step = FilterStep(build_filters(FILTERS))
    kept = [r for r in step.run(corpus()) if isinstance(r, Record)]
    best = {}
    from xlaug.transforms.dedup import dedup_key, id_order
    for r in kept:
        k = dedup_key(r, "normalized")
        if k not in best or id_order(r.id) < id_order(best[k].id):
            best[k] = r
    return sorted(r.id for r in best.values())


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_same_result_on_other_runners(runner):
    want = expected()
    assert 10 < len(want) < 40  # the data exercises both filter and dedup
    with beam.Pipeline(options=PipelineOptions(RUNNERS[runner])) as p:
        recs = p | beam.Create(corpus())
        out = recs | ApplyStep(FilterStep(build_filters(FILTERS), batch_size=8))
        d = out.kept | ApplyStep(Dedup("normalized"))
        s = d.kept | ApplyStep(Sampling(alpha=1.0, seed=3))  # alpha 1: keeps all, still runs the side input
        assert_that(s.kept | beam.Map(lambda r: r.id), equal_to(want))
