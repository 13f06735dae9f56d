import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from xlaug.transforms.apply import ApplyStep
from xlaug.transforms.dedup import Dedup, dedup_key, normalize, resolve_group
from xlaug.transforms.record import Record, Rejected


def rec(id, src, tgt="Hallo Welt", src_lang="en", tgt_lang="de"):
    return Record(id=str(id), src_lang=src_lang, tgt_lang=tgt_lang, src_text=src, tgt_text=tgt)


def test_normalize():
    assert normalize("Hello,  World 42!") == "hello world 00"
    assert normalize("ＨＥＬＬＯ\u00a0wörld") == "hello wörld"  # NFKC: full-width, nbsp
    assert normalize("Straße") == normalize("STRASSE")  # case-fold, not lower()
    assert normalize("a_b-c") == "a b c"
    assert normalize("   ") == ""


def test_keys_by_mode():
    a, b = rec(1, "Hello, world!"), rec(2, "hello world")
    assert dedup_key(a, "exact") != dedup_key(b, "exact")
    assert dedup_key(a, "normalized") == dedup_key(b, "normalized")
    # The language pair is part of the key.
    assert dedup_key(a, "exact") != dedup_key(rec(1, "Hello, world!", tgt_lang="fr"), "exact")
    # Sides do not run into each other.
    assert dedup_key(rec(1, "a b", "c"), "exact") != dedup_key(rec(1, "a", "b c"), "exact")


def test_resolve_group_keeps_smallest_id_and_names_reason():
    group = [rec(10, "Hello world"), rec(9, "hello, world"), rec(2, "Hello world!"), rec(3, "Hello world!")]
    out = list(resolve_group(group))
    assert out[0].id == "2"
    reasons = {x.record.id: (x.reason, x.detail) for x in out[1:]}
    assert reasons["3"][0] == "duplicate"
    assert reasons["10"][0] == "near_duplicate" and reasons["9"][0] == "near_duplicate"
    assert all("kept record 2" in d for _, d in reasons.values())


def test_ids_in_natural_order_file_then_line():
    from xlaug.transforms.dedup import id_order
    ids = ["pairs.tsv:14", "b.tsv:1", "pairs.tsv:8", "pairs.tsv:14-bt2", "pairs.tsv:14-bt10", "pairs.tsv:100",
           "pairs.tsv:14-bt1", "10", "9", "x²"]
    assert sorted(ids, key=id_order) == ["9", "10", "b.tsv:1", "pairs.tsv:8", "pairs.tsv:14", "pairs.tsv:14-bt1",
                                         "pairs.tsv:14-bt2", "pairs.tsv:14-bt10", "pairs.tsv:100", "x²"]
    assert id_order("7") != id_order("07")  # a total order: no two ids tie
    group = [Record(id=f"pairs.tsv:{n}", src_text="same text") for n in (14, 8, 100)]
    out = list(resolve_group(group))
    assert out[0].id == "pairs.tsv:8" and "kept record pairs.tsv:8" in out[1].detail


def _run(parts, mode, want_kept, want_rejected):
    """Dedup over separately created parts (separate bundles), reshuffled;
    asserts kept ids and (id, reason, kept id) of the rejected, both ways:
    grouping whole records (distributed runners) and grouping only ids and
    digests, records spilled to disk (the local runners' way)."""
    for by_values in (False, True, None):
        _run_once(parts, mode, want_kept, want_rejected, by_values)


def _run_once(parts, mode, want_kept, want_rejected, by_values):
    with BeamPipeline(runner="BundleBasedDirectRunner") as p:
        pcs = [p | f"Part{i}" >> beam.Create(part) for i, part in enumerate(parts)]
        out = pcs | beam.Flatten() | beam.Reshuffle() | ApplyStep(Dedup(mode), by_values=by_values)
        assert_that(out.kept | "KeptIds" >> beam.Map(lambda r: r.id),
                    equal_to(want_kept), label="kept")
        assert_that(out.rejected | "RejInfo" >> beam.Map(
                        lambda x: (x.record.id, x.reason, x.detail.rsplit(" ", 1)[-1])),
                    equal_to(want_rejected), label="rejected")


def _corpus():
    # Unique sentences 0..599 (no digits: normalisation maps them all to 0),
    # plus duplicates placed in the other part.
    def word(i):
        return chr(97 + i // 26 // 26) + chr(97 + i // 26 % 26) + chr(97 + i % 26)
    base = [rec(i, f"Sentence {word(i)} is here.") for i in range(600)]
    exact_dups = [rec(1000 + i, base[i].src_text) for i in (5, 300, 599)]
    near_dups = [rec(2000 + i, base[i].src_text.upper().replace(".", " !")) for i in (7, 450)]
    return [base[:300] + near_dups, base[300:] + exact_dups]


def test_dedup_exact_across_bundles():
    parts = _corpus()
    read = sum(len(p) for p in parts)
    want_rejected = [("1005", "duplicate", "5"), ("1300", "duplicate", "300"),
                     ("1599", "duplicate", "599")]
    # The near duplicates stay in exact mode.
    want_kept = [str(i) for i in range(600)] + ["2007", "2450"]
    assert len(want_kept) + len(want_rejected) == read
    _run(parts, "exact", want_kept, want_rejected)


def test_dedup_normalized_across_bundles_and_order_independent():
    parts = _corpus()
    want_kept = [str(i) for i in range(600)]
    want_rejected = [("1005", "duplicate", "5"), ("1300", "duplicate", "300"),
                     ("1599", "duplicate", "599"), ("2007", "near_duplicate", "7"),
                     ("2450", "near_duplicate", "450")]
    _run(parts, "normalized", want_kept, want_rejected)
    # Same result with the parts and the records in reverse order.
    _run([list(reversed(p)) for p in reversed(parts)], "normalized", want_kept, want_rejected)


def test_dedup_off_passes_everything():
    parts = _corpus()
    _run(parts, "off", [r.id for p in parts for r in p], [])


def test_dedup_rejects_bad_mode():
    with pytest.raises(ValueError, match="dedup mode"):
        Dedup("fuzzy")


def test_pack_round_trip_keeps_every_field():
    from xlaug.transforms.record import pack_record as pack, unpack_record as unpack
    r = Record(id="7", src_lang="en", tgt_lang="de", src_text="a b", tgt_text="x y",
               src_tokens=("a", "b"), tgt_tokens=("x", "y"), src_labels=("B-PER", "O"),
               alignment=((0, 0), (1, 1)), link_scores=(0.9, 0.8), scores={"langid_src": 0.99},
               origin=({"stage": "read", "model": None, "params": {"file": "f"}},), loc="f:3")
    assert unpack(pack(r)) == r


def test_local_runners_group_ids_not_records():
    """On runners that hold groups in memory, dedup groups (key, id, digest)
    with the records in files beside them; elsewhere it groups records."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from xlaug.transforms.spill import holds_data_in_memory as holds_groups_in_memory
    assert holds_groups_in_memory(beam.Pipeline(runner="BundleBasedDirectRunner"))
    assert holds_groups_in_memory(beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])))
    embed = ["--runner=PortableRunner", "--job_endpoint=embed"]
    assert holds_groups_in_memory(beam.Pipeline(options=PipelineOptions(embed + ["--environment_type=LOOPBACK"])))
    assert holds_groups_in_memory(beam.Pipeline(options=PipelineOptions(
        embed + ["--environment_type=EXTERNAL", "--environment_config=127.0.0.1:5000"])))
    # Workers elsewhere (a container, another host) cannot read this machine's files.
    for env in (["--environment_type=DOCKER"], ["--environment_type=EXTERNAL", "--environment_config=pool:5000"]):
        assert not holds_groups_in_memory(beam.Pipeline(options=PipelineOptions(embed + env)))
    remote = PipelineOptions(["--runner=PortableRunner", "--job_endpoint=localhost:8099"])
    assert not holds_groups_in_memory(beam.Pipeline(options=remote))
    for pipeline, spilled in ((beam.Pipeline(runner="BundleBasedDirectRunner"), True),
                              (beam.Pipeline(options=remote), False)):
        pipeline | beam.Create([rec(1, "a b")]) | ApplyStep(Dedup("exact"))
        names = {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}
        assert ("dedup/Spill by shard" in names) == spilled and ("dedup/Group" in names) == (not spilled)
