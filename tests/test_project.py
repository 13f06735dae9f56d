import os

import pytest

from xlaug.transforms import bio
from xlaug.transforms.metrics import span_prf
from xlaug.transforms.project import ProjectionPolicy, ProjectStep, project_spans, project_tags
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.apply import ApplyStep


def test_span_prf_exact_match():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]
    r = span_prf(gold, pred)
    assert (r["correct"], r["gold"], r["pred"]) == (1, 2, 2)
    assert r["f1"] == pytest.approx(0.5)
    assert r["per_type"]["LOC"]["f1"] == 1.0 and r["per_type"]["PER"]["f1"] == 0.0


# -- span projection policy -------------------------------------------------------

def test_one_to_many_covers_all_adjacent_targets():
    labels, res = project_spans([(0, 1, "LOC")], [(0, 1), (0, 2)], 4)
    assert labels == ["O", "B-LOC", "I-LOC", "O"]
    assert res[0].status == "projected" and res[0].tgt == (1, 3)


def test_gap_up_to_k_is_filled_wider_gap_splits():
    links = [(0, 0), (1, 2)]  # one unlinked word between
    labels, _ = project_spans([(0, 2, "ORG")], links, 4, policy=ProjectionPolicy(gap=1))
    assert labels == ["B-ORG", "I-ORG", "I-ORG", "O"]
    labels, res = project_spans([(0, 2, "ORG")], links, 4, policy=ProjectionPolicy(gap=0))
    # two equal clusters: the earlier wins, only it is labelled
    assert labels == ["B-ORG", "O", "O", "O"]
    assert res[0].confidence == pytest.approx(0.5)


def test_far_link_is_dropped_heavier_cluster_wins():
    # words 0,1 of the span land on 5,6; word 2 on target 0, 4 words away
    links = [(0, 5), (1, 6), (2, 0)]
    labels, res = project_spans([(0, 3, "ORG")], links, 8, policy=ProjectionPolicy(gap=2))
    assert res[0].tgt == (5, 7)
    assert labels[0] == "O" and labels[5:7] == ["B-ORG", "I-ORG"]
    assert res[0].confidence == pytest.approx(2 / 3)


def test_reordered_spans_keep_their_types():
    # "Paris visited Merkel" -> "Merkel besuchte Paris"
    labels, res = project_spans([(0, 1, "LOC"), (2, 3, "PER")], [(0, 2), (1, 1), (2, 0)], 3)
    assert labels == ["B-PER", "O", "B-LOC"]
    assert [r.tgt for r in res] == [(2, 3), (0, 1)]


def test_partial_alignment_projects_with_lower_confidence():
    labels, res = project_spans([(0, 2, "PER")], [(1, 1)], 3, link_scores=[0.8])
    assert labels == ["O", "B-PER", "O"]
    assert res[0].confidence == pytest.approx(0.5 * 0.8)


def test_missing_and_min_confidence():
    labels, res = project_spans([(0, 1, "PER"), (2, 3, "LOC")], [(2, 0)], 2, link_scores=[0.6])
    assert [r.status for r in res] == ["missing", "projected"]
    assert labels == ["B-LOC", "O"]
    _, res = project_spans([(2, 3, "LOC")], [(2, 0)], 2, link_scores=[0.6],
                           policy=ProjectionPolicy(min_confidence=0.7))
    assert res[0].status == "low_confidence"


def test_overlap_resolved_by_confidence():
    # both spans reach target word 1; the better-linked one keeps it
    links = [(0, 1), (2, 1), (2, 2)]
    labels, res = project_spans([(0, 1, "PER"), (2, 3, "ORG")], links, 3, link_scores=[0.6, 0.9, 0.9])
    assert labels == ["O", "B-ORG", "I-ORG"]
    assert [r.status for r in res] == ["overlap", "projected"]
    keep_edges = ProjectionPolicy(edge_outside=False)
    labels, res = project_spans([(0, 1, "PER"), (2, 3, "ORG")], links, 3, link_scores=[0.95, 0.5, 0.5],
                                policy=keep_edges)
    assert [r.status for r in res] == ["projected", "overlap"]
    assert labels == ["O", "B-PER", "O"]
    # by default the ORG range loses its edge word 1 (linked more strongly to
    # the PER word), so both fit
    labels, res = project_spans([(0, 1, "PER"), (2, 3, "ORG")], links, 3, link_scores=[0.95, 0.5, 0.5])
    assert labels == ["O", "B-PER", "B-ORG"]


def test_trim_punctuation_and_derived_adjective():
    toks = ["die", "belgischen", "Behörden", "."]
    labels, _ = project_spans([(0, 1, "LOC")], [(0, 1)], 4, tgt_tokens=toks, src_tokens=["Belgium"])
    assert labels == ["O", "B-MISC", "O", "O"]
    labels, _ = project_spans([(0, 1, "LOC")], [(0, 1)], 4, tgt_tokens=toks, src_tokens=["Belgium"],
                              policy=ProjectionPolicy(derived_type=None))
    assert labels == ["O", "B-LOC", "O", "O"]
    labels, _ = project_spans([(0, 2, "ORG")], [(0, 2), (1, 3)], 4, tgt_tokens=toks, src_tokens=["EU", "bodies"])
    assert labels == ["O", "O", "B-ORG", "O"]  # the full stop is not part of the name


def test_edge_ratio_trims_weakly_linked_edges():
    links, scores = [(0, 1), (1, 2), (1, 3)], [0.9, 0.9, 0.2]
    labels, _ = project_spans([(0, 2, "ORG")], links, 5, scores)
    assert labels == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]
    labels, _ = project_spans([(0, 2, "ORG")], links, 5, scores, ProjectionPolicy(edge_ratio=0.5))
    assert labels == ["O", "B-ORG", "I-ORG", "O", "O"]
    # a filled hole (weight 0) inside the range stays; one word always stays
    labels, _ = project_spans([(0, 2, "ORG")], [(0, 1), (1, 3)], 5, [0.9, 0.9], ProjectionPolicy(edge_ratio=0.5))
    assert labels == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]
    labels, _ = project_spans([(0, 1, "PER")], [(0, 2)], 5, [0.1], ProjectionPolicy(edge_ratio=1.0))
    assert labels == ["O", "O", "B-PER", "O", "O"]


def test_policy_validates():
    with pytest.raises(ValueError):
        ProjectionPolicy(gap=-1)
    with pytest.raises(ValueError):
        ProjectionPolicy(on_missing="keep")
    with pytest.raises(ValueError):
        ProjectionPolicy(edge_ratio=1.5)


# -- per-token tags -------------------------------------------------------------------

def test_project_tags_majority_first_and_fill():
    src = ["DET", "NOUN", "NOUN", "VERB"]
    links = [(0, 0), (1, 1), (2, 1), (3, 1), (3, 2)]
    scores = [0.9, 0.5, 0.5, 0.95, 0.9]
    tags, unaligned = project_tags(src, links, 4, scores, rule="majority", fill="X")
    assert tags == ["DET", "NOUN", "VERB", "X"] and unaligned == 1
    tags, _ = project_tags(src, links, 4, scores, rule="first", fill="X")
    assert tags[1] == "VERB"  # strongest link wins over the majority


# -- ProjectStep ---------------------------------------------------------------------

def _rec(i, **kw):
    base = dict(id=str(i), src_lang="en", tgt_lang="de", src_tokens=("Angela", "Merkel", "visited", "Paris"),
                src_labels=("B-PER", "I-PER", "O", "B-LOC"), tgt_tokens=("Angela", "Merkel", "besuchte", "Paris"),
                alignment=((0, 0), (1, 1), (2, 2), (3, 3)), link_scores=(0.9, 0.9, 0.8, 0.95))
    base.update(kw)
    return Record(**base)


def test_project_step_labels_and_scores():
    (out,) = list(ProjectStep().run([_rec(1)]))
    assert out.tgt_labels == ("B-PER", "I-PER", "O", "B-LOC")
    assert out.scores["proj_spans_src"] == 2 and out.scores["proj_spans_tgt"] == 2
    assert out.scores["proj_confidence"] == pytest.approx(0.9)
    assert out.origin[-1]["stage"] == "project"


def test_project_step_missing_entity_reject_or_drop():
    rec = _rec(2, alignment=((0, 0), (1, 1), (2, 2)), link_scores=(0.9, 0.9, 0.8))
    (rej,) = list(ProjectStep(ProjectionPolicy(on_missing="reject")).run([rec]))
    assert isinstance(rej, Rejected) and rej.reason == "unprojectable_entity" and "Paris" in rej.detail
    (out,) = list(ProjectStep(ProjectionPolicy(on_missing="drop")).run([rec]))
    assert out.tgt_labels == ("B-PER", "I-PER", "O", "O")
    assert out.scores["proj_spans_dropped"] == 1 and out.scores["proj_spans_tgt"] == 1


def test_project_step_rejections_and_tokenising_text():
    step = ProjectStep()
    outs = list(step.run([_rec(3, alignment=None, link_scores=None), _rec(4, src_labels=None),
                          _rec(5, src_labels=("O", "PER", "O", "O")), _rec(6, alignment=((0, 9),), link_scores=None)]))
    assert [o.reason for o in outs] == ["no_alignment", "no_labels", "invalid_bio", "alignment_out_of_range"]
    (out,) = list(step.run([_rec(7, tgt_tokens=None, tgt_text="Angela Merkel besuchte Paris.")]))
    assert out.tgt_tokens == ("Angela", "Merkel", "besuchte", "Paris", ".")
    assert out.tgt_labels[-2:] == ("B-LOC", "O")


def test_project_step_back_onto_source_and_pos():
    rec = _rec(8, src_labels=None, tgt_labels=("B-PER", "I-PER", "O", "B-LOC"))
    (out,) = list(ProjectStep(from_side="tgt").run([rec]))
    assert out.src_labels == ("B-PER", "I-PER", "O", "B-LOC")
    pos = _rec(9, src_labels=("PROPN", "PROPN", "VERB", "PROPN"), alignment=((0, 0), (2, 2)), link_scores=None)
    (out,) = list(ProjectStep(tag_scheme="pos", fill_tag="X").run([pos]))
    assert out.tgt_labels == ("PROPN", "X", "VERB", "X")
    assert out.scores["proj_unaligned"] == 0.5


def test_project_step_in_beam_counts_add_up():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    from xlaug.transforms.apply import ApplyStep

    records = [_rec(i) for i in range(6)] + [_rec(10, alignment=None, link_scores=None),
                                             _rec(11, alignment=((0, 0),), link_scores=None)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(records) | ApplyStep(ProjectStep(ProjectionPolicy(on_missing="reject")))
        total = ((out.kept | "k" >> beam.Map(lambda r: ("kept", r.id)),
                  out.rejected | "r" >> beam.Map(lambda r: (r.reason, r.record.id)))
                 | beam.Flatten() | beam.combiners.Count.PerKey())
        assert_that(total, equal_to([("kept", 6), ("no_alignment", 1), ("unprojectable_entity", 1)]))


# -- AnnotateStep ------------------------------------------------------------------------

def test_annotate_step_tiny_tagger(tiny_tagger):
    from xlaug.transforms.annotate import AnnotateStep
    recs = [Record(id="a", src_text="x", tgt_text="Angela Merkel visited Paris yesterday."),
            Record(id="b", src_text="x", tgt_tokens=("the", "European", "Parliament", "voted")),
            Record(id="c", src_text="x", tgt_tokens=tuple(["Berlin"] * 200)),
            Record(id="d", src_text="x", tgt_text="  ")]
    outs = list(AnnotateStep(tiny_tagger, side="tgt", batch_size=4, threads=1).run(recs))
    kept = [o for o in outs if isinstance(o, Record)]
    rej = {o.record.id: o.reason for o in outs if isinstance(o, Rejected)}
    assert rej == {"c": "too_long", "d": "empty_text"}
    assert [r.id for r in kept] == ["a", "b"]
    for r in kept:
        assert len(r.tgt_labels) == len(r.tgt_tokens)
        bio.spans(r.tgt_labels, strict=True)  # repaired output is valid BIO
        assert r.scores["annotate_bio_fixes"] >= 0
    assert kept[0].tgt_tokens[-1] == "."
    # same model, same words, same labels whatever the batch
    (again,) = list(AnnotateStep(tiny_tagger, side="tgt", batch_size=1).run([recs[1]]))
    assert again.tgt_labels == kept[1].tgt_labels


# -- pipeline composition and eval CLI ---------------------------------------------------------

def _parse(argv):
    from xlaug.pipelines.cli import parse_args
    return parse_args(argv)[2]


def test_build_stages_translate_train_in_beam(tiny_encoder):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    from xlaug.pipelines.project import build_stages

    args = _parse(["run", "project", "--input", "in.conll", "--output", "out", "--align-model", tiny_encoder,
                   "--align-layer", "2", "--on-missing", "drop", "--threads", "1"])
    stages = build_stages(args)
    assert [s.name for s in stages] == ["align", "project"]
    records = [_rec(i, alignment=None, link_scores=None, tgt_tokens=None, tgt_text="die Katze sass auf der Matte .")
               for i in range(3)] + [Record(id="mono", src_tokens=("Paris",), src_labels=("B-LOC",))]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        pc = p | beam.Create(records)
        rejected = []
        for stage in stages:
            out = pc | ApplyStep(stage)
            pc = out.kept
            rejected.append(out.rejected)
        labelled = pc | beam.Map(lambda r: (r.id, len(r.tgt_labels) == len(r.tgt_tokens) == 7,
                                            r.scores["proj_spans_src"]))
        assert_that(labelled, equal_to([(str(i), True, 2.0) for i in range(3)]), label="kept")
        reasons = rejected | beam.Flatten() | beam.Map(lambda r: (r.stage, r.reason, r.record.id))
        assert_that(reasons, equal_to([("align", "no_tokens", "mono")]), label="rejected")


def test_build_stages_translate_test_needs_tagger(tiny_encoder, tiny_tagger):
    from xlaug.pipelines.cli import CliError
    from xlaug.pipelines.project import build_stages
    base = ["run", "project", "--input", "x", "--output", "y", "--align-model", tiny_encoder,
            "--align-layer", "2", "--mode", "translate-test"]
    with pytest.raises(CliError, match="--tagger-model"):
        build_stages(_parse(base))
    stages = build_stages(_parse(base + ["--tagger-model", tiny_tagger]))
    assert [s.name for s in stages] == ["annotate", "align", "project"]
    assert stages[-1].from_side == "tgt"


SRC = "Angela\tB-PER\nMerkel\tI-PER\nvisited\tO\nParis\tB-LOC\n.\tO\n\nthe\tO\nCommission\tB-ORG\nagrees\tO\n"
TGT = "Angela\tB-PER\nMerkel\tI-PER\nbesuchte\tO\nParis\tB-LOC\n.\tO\n\ndie\tO\nKommission\tB-ORG\nstimmt\tO\nzu\tO\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_eval_project_cli_output(tmp_path, tiny_encoder, capsys):
    from xlaug.pipelines.cli import main
    rc = main(["eval", "project", "--source", _write(tmp_path, "s.conll", SRC),
               "--target", _write(tmp_path, "t.conll", TGT), "--align-model", tiny_encoder, "--align-layer", "2",
               "--align-threads", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert out[0].startswith("pairs=2 ")
    assert any(line.startswith("all ") for line in out)
    assert out[-1].startswith("F1=")
    f1 = float(out[-1].split("=")[1])
    assert 0.0 <= f1 <= 1.0


@pytest.mark.parametrize("src,tgt,match", [
    ("Angela\tB-PER\nMerkel\n", TGT, "s.conll:2: expected token<TAB>tag"),
    ("Angela\tB-PER\nMerkel\tPERSON\n", TGT, "s.conll:2: tag 'PERSON'"),
    (SRC, "Angela\tB-PER\n", "s.conll:[0-9]+: .*t.conll has fewer sentences"),
    ("\n\n", TGT, "s.conll: input file holds only blank lines"),
])
def test_eval_project_bad_conll(tmp_path, capsys, src, tgt, match):
    import re
    from xlaug.pipelines.cli import main
    rc = main(["eval", "project", "--source", _write(tmp_path, "s.conll", src),
               "--target", _write(tmp_path, "t.conll", tgt), "--align-model", "unused"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and re.search(match, err), err


@pytest.mark.slow
def test_europarl_projection_f1_floor(real_encoder, shared_data, tmp_path, capsys):
    from xlaug.pipelines.cli import main
    ner = os.path.join(shared_data, "ner-europarl")
    rc = main(["eval", "project", "--source", os.path.join(ner, "en.conll"), "--target",
               os.path.join(ner, "de.conll"), "--align-model", real_encoder, "--limit", "150"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert float(out[-1].split("=")[1]) >= 0.90


def test_translate_test_chain_labels_the_original(tiny_encoder, tiny_tagger):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    from xlaug.pipelines.project import build_stages

    args = _parse(["run", "project", "--input", "x", "--output", "y", "--align-model", tiny_encoder,
                   "--align-layer", "2", "--mode", "translate-test", "--tagger-model", tiny_tagger,
                   "--on-missing", "drop", "--threads", "1"])
    # src: the original (unlabelled) text, tgt: its translation into English
    records = [Record(id=str(i), src_text="Angela Merkel besuchte gestern Paris.",
                      tgt_text="Angela Merkel visited Paris yesterday.") for i in range(4)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        pc = p | beam.Create(records)
        rejected = []
        for stage in build_stages(args):
            out = pc | ApplyStep(stage)
            pc = out.kept
            rejected.append(out.rejected)

        def check(r):
            bio.spans(r.src_labels, strict=True)
            return (r.id, r.src_tokens[-1], len(r.src_labels), r.scores["proj_spans_src"] == len(
                bio.spans(r.tgt_labels)))
        assert_that(pc | beam.Map(check), equal_to([(str(i), ".", 6, True) for i in range(4)]), label="kept")
        assert_that(rejected | beam.Flatten(), equal_to([]), label="rejected")


def test_translate_train_with_backtranslation_stage(tiny_seq2seq, tiny_encoder):
    """Active once the back-translation stage is merged: translate, align, project."""
    pytest.importorskip("xlaug.pipelines.backtranslate")
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    from xlaug.pipelines.project import build_stages

    args = _parse(["run", "project", "--input", "x", "--output", "y", "--src-lang", "en", "--tgt-lang", "de",
                   "--translate-model", tiny_seq2seq, "--align-model", tiny_encoder, "--align-layer", "2",
                   "--on-missing", "drop", "--threads", "1"])
    stages = build_stages(args)
    assert [s.name for s in stages] == ["backtranslate", "align", "project"]
    records = [Record(id=str(i), src_lang="en", tgt_lang="de", src_tokens=("Angela", "Merkel", "visited", "Paris"),
                      src_labels=("B-PER", "I-PER", "O", "B-LOC")) for i in range(3)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        pc = p | beam.Create(records)
        rejected = []
        for stage in stages:
            out = pc | ApplyStep(stage)
            pc = out.kept
            rejected.append(out.rejected)
        done = (pc | "kept" >> beam.Map(lambda r: ("kept", r.tgt_text is not None
                                                   and len(r.tgt_labels) == len(r.tgt_tokens))),
                rejected | "all_rej" >> beam.Flatten() | "rej" >> beam.Map(lambda r: (r.reason, True))) \
            | "both" >> beam.Flatten()
        # every record comes out once, kept (labelled translation) or rejected with a reason
        assert_that(done | beam.combiners.Count.Globally(), equal_to([3]), label="count")
        assert_that(done | beam.Filter(lambda kv: kv == ("kept", False)), equal_to([]), label="labelled")


def test_edge_word_linked_outside_the_span_is_trimmed():
    # source: "des Europäischen Parlaments"; target "of the European Parliament"
    links = [(0, 0), (0, 1), (1, 2), (2, 1), (2, 3)]
    scores = [0.8, 0.7, 0.9, 0.6, 0.9]
    span = [(1, 3, "ORG")]
    # "the" (1) links most strongly to "des" (outside the span): trimmed
    labels, _ = project_spans(span, links, 4, scores)
    assert labels == ["O", "O", "B-ORG", "I-ORG"]
    labels, _ = project_spans(span, links, 4, scores, ProjectionPolicy(edge_outside=False))
    assert labels == ["O", "B-ORG", "I-ORG", "I-ORG"]
    # linked only from inside the span (a fused article): kept
    labels, _ = project_spans(span, [(1, 2), (2, 1), (2, 3)], 4, [0.9, 0.6, 0.9])
    assert labels == ["O", "B-ORG", "I-ORG", "I-ORG"]
    # never trimmed to nothing
    labels, _ = project_spans([(1, 2, "LOC")], [(0, 0), (1, 0)], 2, [0.9, 0.5])
    assert labels == ["B-LOC", "O"]


def _three_line_conll(tmp_path):
    src = SRC + "\nBerlin\tB-LOC\nis\tO\nbig\tO\n"
    tgt = TGT + "\nBerlin\tB-LOC\nist\tO\ngross\tO\n"
    return _write(tmp_path, "s.conll", src), _write(tmp_path, "t.conll", tgt)


def test_eval_project_directions(tmp_path, tiny_encoder, capsys):
    from xlaug.pipelines.cli import main
    s, t = _three_line_conll(tmp_path)
    base = ["eval", "project", "--align-model", tiny_encoder, "--align-layer", "2", "--align-threads", "1"]
    f1 = {}
    for d in ("forward", "reverse", "both"):
        assert main(base + ["--source", s, "--target", t, "--direction", d]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert f"direction={d}" in out[0]
        f1[d] = float(out[-1].split("=")[1])
        if d == "both":
            parts = {x.split("=")[0]: float(x.split("=")[1]) for x in out if x.startswith("F1_")}
    assert parts == pytest.approx({"F1_forward": f1["forward"], "F1_reverse": f1["reverse"]})
    assert f1["both"] == pytest.approx((f1["forward"] + f1["reverse"]) / 2, abs=1e-4)
    # reverse is forward with the files swapped (every method links symmetrically)
    assert main(base + ["--source", t, "--target", s]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split("=")[1]) == pytest.approx(f1["reverse"])


def test_eval_project_layer_auto_by_round_trip(tmp_path, tiny_encoder, capsys):
    from xlaug.pipelines.cli import main
    s, t = _three_line_conll(tmp_path)
    assert main(["eval", "project", "--align-model", tiny_encoder, "--align-layer", "auto", "--align-threads", "1",
                 "--source", s, "--target", t]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    crit = dict(x.split(":") for x in out[0].split(": ", 1)[1].split())
    chosen = int(out[1].rsplit(" ", 1)[1])
    assert max(crit, key=lambda k: (float(crit[k]), -int(k))) == str(chosen)
    assert f"layer={chosen} " in out[2]


def test_round_trip_layer_chooser_in_align_step(tiny_encoder):
    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.project_choice import RoundTripLayer
    recs = [Record(id=str(k), src_tokens=tuple(a.split()), tgt_tokens=tuple(b.split()),
                   src_labels=tuple("B-LOC" if w[:1].isupper() else "O" for w in a.split()))
            for k, (a, b) in enumerate([("Paris is big .", "Paris ist gross ."),
                                        ("the Commission agrees", "die Kommission stimmt zu"),
                                        ("Berlin is far", "Berlin ist weit")])]
    chooser = RoundTripLayer(ProjectionPolicy())
    step = AlignStep(tiny_encoder, layer="auto", choose_layer=chooser, threads=1)
    step.setup()
    layer = step.make_context(recs)
    expected, scores = chooser(step.shared_model(), [(list(r.src_tokens), list(r.tgt_tokens), r) for r in recs])
    assert layer == expected and set(scores) == set(step.shared_model().candidate_layers())
    out = list(step.process_batch(recs, context=layer))
    assert all(isinstance(r, Record) and r.origin[-1]["params"]["layer"] == layer for r in out)
