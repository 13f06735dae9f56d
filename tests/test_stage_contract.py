"""The stage contract: every stage runs the same in plain Python (``run``)
and under Beam (``ApplyStep``); model stages load their model once per
worker process; the shared pieces (threads, device, seeded hash, coverage)
exist once."""
import collections
import json
import os
import subprocess
import sys
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline

from xlaug.transforms.apply import ApplyStep
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import ModelStep, Step

_SINK = collections.defaultdict(list)


def _collect(item, tag):
    _SINK[tag].append(item)


def run_beam(step, records, options=("--runner=BundleBasedDirectRunner",)):
    """(kept, rejected) of ``ApplyStep(step)``; results gathered in this
    module's sink (LOOPBACK and in-process workers share this process)."""
    tag = uuid.uuid4().hex
    with BeamPipeline(options=PipelineOptions(list(options))) as p:
        out = p | beam.Create(records) | ApplyStep(step)
        out.kept | "k" >> beam.Map(_collect, tag + "k")
        out.rejected | "r" >> beam.Map(_collect, tag + "r")
    return _SINK.pop(tag + "k", []), _SINK.pop(tag + "r", [])


def assert_same(plain, beam_out):
    """Same records and rejections: discrete fields exactly, floats with a tolerance."""
    (kept_a, rej_a), (kept_b, rej_b) = plain, beam_out
    assert sorted((r.record.id, r.stage, r.reason) for r in rej_a) == \
        sorted((r.record.id, r.stage, r.reason) for r in rej_b)
    a, b = {r.id: r for r in kept_a}, {r.id: r for r in kept_b}
    assert len(a) == len(kept_a) and sorted(a) == sorted(b)
    for rid, ra in a.items():
        da, db = ra.to_dict(), b[rid].to_dict()
        sa, sb = da.pop("scores"), db.pop("scores")
        la, lb = da.pop("link_scores"), db.pop("link_scores")
        assert da == db, rid
        assert sorted(sa) == sorted(sb) and all(sa[k] == pytest.approx(sb[k], abs=1e-4) for k in sa), rid
        assert (la is None) == (lb is None) and (la is None or la == pytest.approx(lb, abs=1e-4)), rid


def parallel(n=30):
    en = ["the cat sat on the mat .", "a house in Berlin is big .", "Angela Merkel visited Paris yesterday ."]
    de = ["die Katze sass auf der Matte .", "ein Haus in Berlin ist gross .", "Angela Merkel besuchte gestern Paris ."]
    out = [Record(id=str(i), src_lang="en", tgt_lang="de", src_text=en[i % 3], tgt_text=de[i % 3])
           for i in range(n)]
    out.append(Record(id="empty", src_lang="en", tgt_lang="de", src_text="the cat", tgt_text=" "))
    return out


# -- every kind of stage: plain Python == Beam ---------------------------------

def _stages():
    from xlaug.transforms.codeswitch import CodeSwitchStep
    from xlaug.transforms.dedup import Dedup
    from xlaug.transforms.filter_step import FilterStep
    from xlaug.transforms.filters import build_filters
    from xlaug.transforms.project import ProjectStep
    from xlaug.transforms.sampling import Sampling
    return {
        "batched": FilterStep(build_filters({"length": {"max_tokens": 7}}), batch_size=4),
        "grouped": Dedup("exact"),
        "summary": Sampling(alpha=0.0, seed=3),
        "per_record": ProjectStep(),
        "creating": CodeSwitchStep(alpha=0.4, samples=2, seed=1),
    }


@pytest.mark.parametrize("kind", sorted(_stages()))
def test_plain_and_beam_give_the_same_output(kind):
    step = _stages()[kind]
    records = parallel()
    if kind == "summary":  # a second, smaller language pair: sampling keeps part of the first
        records += [r.replace(id=f"fr{r.id}", tgt_lang="fr") for r in records[:6]]
    if kind in ("per_record", "creating"):
        records = [r.replace(src_tokens=tuple(r.src_text.split()), tgt_tokens=tuple(r.tgt_text.split()),
                             src_labels=("O",) * len(r.src_text.split()),
                             alignment=tuple((k, k) for k in range(min(len(r.src_text.split()),
                                                                       len(r.tgt_text.split())))))
                   for r in records if r.tgt_text.strip()]
    plain = step.split(records)
    assert plain[0] and (plain[1] or kind in ("per_record", "creating"))
    assert_same(plain, run_beam(step, records))


def test_summary_stage_puts_its_context_in_the_output():
    from xlaug.transforms.sampling import Sampling, smoothed_shares
    step = Sampling(alpha=0.5, seed=1)
    records = parallel()
    records += [r.replace(id=f"fr{r.id}", tgt_lang="fr") for r in records[:5]]
    tag = uuid.uuid4().hex
    with BeamPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(records) | ApplyStep(step)
        out.context | beam.Map(_collect, tag)
    assert _SINK.pop(tag) == [smoothed_shares({"en-de": 31, "en-fr": 5}, 0.5)]
    assert step.report_key == "sampling"


def test_a_step_is_checked_before_it_runs():
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.stage import check_steps

    class A(Step):
        name = "a"

    class M(ModelStep):
        name = "m"
        threads = 2

    class N(ModelStep):
        name = "n"
        threads = 4

    with pytest.raises(TypeError, match="Step"):
        ApplyStep(beam.Map(lambda r: r))
    with pytest.raises(UsageError, match="unique"):
        check_steps([A(), A()])
    with pytest.raises(UsageError, match="torch thread counts"):
        check_steps([M(), N()])
    check_steps([A(), M()])


# -- model stages ----------------------------------------------------------------

class LoadCounting(ModelStep):
    """Appends its process id to a file each time it loads its 'model'."""

    name = "counting"
    batch_size = min_batch_size = 2

    def __init__(self, log: str, name: str = "counting"):
        self.log, self.name = log, name

    def model_spec(self):
        return {"log": self.log}

    def load_model(self):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return collections.Counter()  # any object with methods

    def process_batch(self, records, context=None, model=None):
        model.update(["batches"])
        for r in records:
            yield r.with_scores(**{f"pid_{self.name}": os.getpid()})


def _loads(log):
    with open(log) as f:
        return [int(line) for line in f]


def test_model_loads_once_per_process_in_process(tmp_path):
    log = str(tmp_path / "loads")
    records = [Record(id=str(i), src_text=f"s {i}") for i in range(40)]
    tag = uuid.uuid4().hex
    with BeamPipeline(runner="BundleBasedDirectRunner") as p:
        first = p | beam.Create(records) | ApplyStep(LoadCounting(log, "a"))
        second = first.kept | ApplyStep(LoadCounting(log, "b"))  # same model: shared
        second.kept | beam.Map(_collect, tag)
    assert len(_SINK.pop(tag)) == 40
    assert _loads(log) == [os.getpid()]
    kept, _ = LoadCounting(log, "c").split(records)  # the plain driver shares it too
    assert len(kept) == 40 and _loads(log) == [os.getpid()]


@pytest.mark.parametrize("options", [
    ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
], ids=["multiprocess", "portable"])
def test_model_loads_once_per_worker_process(tmp_path, options):
    log = str(tmp_path / "loads")
    out = str(tmp_path / "pids")
    records = [Record(id=str(i), src_text=f"s {i}") for i in range(200)]
    with BeamPipeline(options=PipelineOptions(options)) as p:
        first = p | beam.Create(records) | beam.Reshuffle() | ApplyStep(LoadCounting(log, "a"))
        second = first.kept | ApplyStep(LoadCounting(log, "b"))
        (second.kept | beam.Map(lambda r: json.dumps([r.scores["pid_a"], r.scores["pid_b"]]))
         | beam.io.WriteToText(out, num_shards=1, shard_name_template=""))
    with open(out) as f:
        used = {int(p) for line in f for p in json.loads(line)}
    loads = _loads(log)
    assert len(loads) == len(set(loads))   # no process loaded it twice
    assert used <= set(loads)              # every process that used it loaded it itself


def test_a_real_model_is_shared_by_two_stages(tiny_encoder):
    from xlaug.transforms import worker
    from xlaug.transforms.align import AlignStep
    worker.release_models()
    first, second = AlignStep(tiny_encoder, layer=2), AlignStep(tiny_encoder, layer=2, only_missing=True)
    second.name = "align_again"
    key = first.model_key()
    assert key == second.model_key()
    before = worker.LOADS.get(key, 0)
    tag = uuid.uuid4().hex
    with BeamPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(parallel(8)) | ApplyStep(first)
        again = out.kept | ApplyStep(second)
        again.kept | beam.Map(_collect, tag)
    assert len(_SINK.pop(tag)) == 8
    assert worker.LOADS[key] == before + 1


def test_align_auto_layer_same_in_plain_python_and_beam(tiny_encoder):
    from xlaug.transforms.align import AlignStep
    step = AlignStep(tiny_encoder, layer="auto", batch_size=3)
    plain = step.split(parallel(12))
    chosen = step.make_context(step.summary.of(parallel(12)))  # on the hashed sample
    assert {r.origin[-1]["params"]["layer"] for r in plain[0]} == {chosen}
    assert_same(plain, run_beam(step, parallel(12)))


def test_annotate_same_in_plain_python_and_beam(tiny_tagger):
    from xlaug.transforms.annotate import AnnotateStep
    step = AnnotateStep(tiny_tagger, side="tgt", batch_size=4)
    records = parallel(10) + [Record(id="none", src_text="x")]
    plain = step.split(records)
    assert len(plain[0]) == 10 and {r.reason for r in plain[1]} == {"empty_text"}
    assert_same(plain, run_beam(step, records))


def test_backtranslate_same_in_plain_python_and_beam(tiny_seq2seq):
    from xlaug.transforms.backtranslate import BackTranslate
    from xlaug.transforms.seq2seq import Decoding
    long_text = "The cat sat on the mat. A house in Berlin is big. We need more data."
    records = [Record(id=f"r{i}", src_lang="en", src_text=t) for i, t in enumerate(
        ["the cat sat on the mat .", "a house in Berlin is big .", "hi", "numbers 1 2 3",
         "Angela Merkel visited Paris yesterday .", long_text])]
    records += [Record(id="fr", src_lang="fr", src_text="le chat"), Record(id="blank", src_text=" "),
                Record(id="huge", src_text="Berlin " * 30)]
    step = BackTranslate(tiny_seq2seq, "en", "de", round_trip_model=tiny_seq2seq, max_input_tokens=16,
                         max_batch_size=4, batch_tokens=60,
                         decoding=Decoding(mode="beam", num_beams=3, n=2, max_new_tokens=6))
    plain = step.split(records)
    assert sorted(r.id for r in plain[0]) == sorted(f"r{i}-bt{k}" for i in range(6) for k in (1, 2))
    assert {(r.record.id, r.reason) for r in plain[1]} == {
        ("fr", "wrong_language"), ("blank", "empty_text"), ("huge", "too_long")}
    assert all(r.origin[-1]["stage"] == "round_trip" for r in plain[0])
    assert {r.origin[0]["params"].get("chunks") for r in plain[0] if r.id.startswith("r5")} == {2}
    assert_same(plain, run_beam(step, records))


def test_backtranslate_batches_by_token_budget(tiny_seq2seq):
    from xlaug.transforms.backtranslate import BackTranslate
    step = BackTranslate(tiny_seq2seq, "en", "de", max_batch_size=3, batch_tokens=30)
    records = [Record(id=str(i), src_text=" ".join(["cat"] * (1 + i % 7))) for i in range(20)]
    batches = list(step.batches(records))
    assert sorted(r.id for b in batches for r in b) == sorted(r.id for r in records)
    weights = [[step.weight(r) for r in b] for b in batches]
    assert [w for b in weights for w in b] == sorted(w for b in weights for w in b)  # length-sorted
    assert all(len(b) <= 3 and (len(b) == 1 or sum(b) < 30) for b in weights)


# -- shared pieces ------------------------------------------------------------------

def test_torch_threads_are_set_once_per_process():
    code = ("import logging, torch; logging.basicConfig(level=logging.WARNING)\n"
            "from xlaug.transforms.worker import set_torch_threads, torch_threads\n"
            "set_torch_threads(None); set_torch_threads(2); set_torch_threads(3)\n"
            "print(torch.get_num_threads(), torch_threads())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "2"]
    assert "already set to 2" in r.stderr and "ignoring a request for 3" in r.stderr


def test_one_device_resolver():
    import torch
    from xlaug.transforms.models import ModelLoadError
    from xlaug.transforms.worker import resolve_device
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelLoadError, match="unknown device 'banana'"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_seeded_choices_are_independent_of_each_other():
    from xlaug.transforms.io import split_of
    from xlaug.transforms.sampling import coin
    from xlaug.transforms.seeding import seeded_hash, seeded_unit
    assert seeded_hash(1, "a", 2) == seeded_hash(1, "a", 2) != seeded_hash(2, "a", 2)
    assert seeded_hash(1, "ab") != seeded_hash(1, "a", "b")
    ids = [f"pairs.tsv:{i}" for i in range(4000)]
    assert all(0.0 <= seeded_unit(5, i) < 1.0 for i in ids)
    # Records the sampling coin keeps are not biased towards one split.
    kept = [i for i in ids if coin(7, i) < 0.3]
    share = sum(split_of(i, {"train": 0.5, "test": 0.5}, 7) == "train" for i in kept) / len(kept)
    assert 0.44 < share < 0.56


def test_one_coverage_formula():
    from xlaug.transforms.align import Alignment, coverage
    from xlaug.transforms.filters import AlignmentCoverageFilter
    links = ((0, 0), (1, 1), (1, 2), (5, 9))  # the last one points outside both sentences
    rec = Record(id="c", src_tokens=("a", "b", "c"), tgt_tokens=("x", "y", "z", "w"), alignment=links)
    assert coverage(links, 3, 4) == pytest.approx((2 + 3) / 7)
    assert AlignmentCoverageFilter().score(rec)["align_coverage"] == coverage(links, 3, 4)
    assert Alignment(links=links).coverage(3, 4) == coverage(links, 3, 4)
    assert coverage((), 0, 0) == 0.0


def test_stages_without_a_model_never_import_torch():
    # Beam's inference module imports torch (seconds and ~200 MB per worker):
    # only model stages may pull it in.
    code = ("import sys, apache_beam as beam\n"
            "from xlaug.transforms.apply import ApplyStep\n"
            "from xlaug.transforms.io import ReadCorpus\n"
            "from xlaug.transforms.dedup import Dedup\n"
            "from xlaug.transforms.filter_step import FilterStep\n"
            "from xlaug.transforms.filters import build_filters\n"
            "from xlaug.transforms.record import Record\n"
            "from xlaug.transforms.sampling import Sampling\n"
            "with beam.Pipeline('BundleBasedDirectRunner') as p:\n"
            "    r = p | beam.Create([Record(id='1', src_text='a b', tgt_text='c d')])\n"
            "    r = r | ApplyStep(FilterStep(build_filters({'length': {}})))\n"
            "    r = r.kept | ApplyStep(Dedup()) \n"
            "    r.kept | ApplyStep(Sampling(0.5))\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-1] == "False"
