"""Word alignment: links equal simalign's, batching does not change them,
long inputs follow the policy, the stage fills records, AER is right."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from tests.tiny_models import CORPUS

torch = pytest.importorskip("torch")

# Parallel-ish pairs from the tiny corpus (en/de lines alternate) plus reordered
# and repeated-word pairs, so ties and one-to-many cases occur.
PAIRS = [(CORPUS[k].split(), CORPUS[k + 1].split()) for k in range(0, len(CORPUS), 2)] + [
    ("the cat the cat".split(), "die Katze".split()),
    ("Paris".split(), "Paris ist gross .".split()),
    ("we need more data".split(), "Daten brauchen wir mehr".split()),
    ("a b".split(), "x".split()),
]


def _enfr(shared_data, limit):
    from xlaug.transforms.metrics import read_alignment_gold, read_alignment_pairs
    pairs = read_alignment_pairs(os.path.join(shared_data, "alignment", "enfr.src-tgt"))
    return pairs[:limit], read_alignment_gold(os.path.join(shared_data, "alignment", "enfr.gold"), pairs)[:limit]


@pytest.fixture(scope="module")
def simalign_mod():
    return pytest.importorskip("simalign")


@pytest.fixture(scope="module")
def scrambled_encoder(tmp_path_factory):
    """The tiny encoder with layer 2 scrambled: layer 1 aligns clearly better, so
    layer "auto" has a winner that no rounding difference can flip (on the plain
    tiny encoder both layers score within 1e-5 of each other)."""
    from tests.tiny_models import build_encoder
    return build_encoder(str(tmp_path_factory.mktemp("scrambled_encoder")), scramble=(2,))


def _clear_auto_layer(encoder, records):
    """The layer "auto" picks for ``records``, checked to win by a wide margin."""
    from xlaug.transforms.align import WordAligner
    pairs = [(list(r.tokens("src")), list(r.tokens("tgt"))) for r in records if r.tokens("src") and r.tokens("tgt")]
    layer, crit = WordAligner(encoder, layer="auto").choose_layer(pairs)
    assert crit[layer] - max(v for k, v in crit.items() if k != layer) > 0.01, crit
    return layer


def _cut_in_a_gap(values):
    """A threshold halfway across the widest gap between neighbouring values of
    the middle half, so values that move by rounding stay on their side."""
    v = sorted(values)
    gap, k = max((v[k + 1] - v[k], k) for k in range(len(v) // 4, 3 * len(v) // 4))
    assert gap > 1e-3, "no clear gap to put the threshold in"
    return (v[k] + v[k + 1]) / 2


@pytest.fixture(scope="module")
def aligners(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    return {(m, layer): WordAligner(tiny_encoder, layer=layer, method=m, batch_size=8)
            for m in ("argmax", "itermax", "match") for layer in (1, 2)}


# -- same links as simalign ------------------------------------------------------
@pytest.mark.parametrize("layer", [1, 2])
def test_links_equal_simalign(tiny_encoder, aligners, simalign_mod, layer):
    ref = simalign_mod.SentenceAligner(model=tiny_encoder, token_type="bpe", matching_methods="aim",
                                       layer=layer, device="cpu")
    expected = [ref.get_word_aligns(s, t) for s, t in PAIRS]
    for method, key in (("argmax", "inter"), ("itermax", "itermax"), ("match", "mwmf")):
        got = aligners[(method, layer)].align(PAIRS)
        for k, (al, exp) in enumerate(zip(got, expected)):
            assert al.error is None
            assert list(al.links) == [tuple(x) for x in exp[key]], (method, layer, k)


def test_distortion_equals_simalign(tiny_encoder, simalign_mod):
    from xlaug.transforms.align import WordAligner
    ref = simalign_mod.SentenceAligner(model=tiny_encoder, token_type="bpe", matching_methods="a",
                                       layer=2, distortion=0.5, device="cpu")
    ours = WordAligner(tiny_encoder, layer=2, method="argmax", distortion=0.5).align(PAIRS)
    plain = WordAligner(tiny_encoder, layer=2, method="argmax").align(PAIRS)
    for al, (s, t) in zip(ours, PAIRS):
        assert list(al.links) == [tuple(x) for x in ref.get_word_aligns(s, t)["inter"]]
    assert [a.links for a in ours] != [a.links for a in plain]  # the option does something here


def test_enfr_pairs_equal_simalign(tiny_encoder, aligners, simalign_mod, shared_data):
    pairs, _ = _enfr(shared_data, 25)
    ref = simalign_mod.SentenceAligner(model=tiny_encoder, token_type="bpe", matching_methods="a",
                                       layer=2, device="cpu")
    got = aligners[("argmax", 2)].align(pairs)
    assert [list(a.links) for a in got] == \
        [[tuple(x) for x in ref.get_word_aligns(s, t)["inter"]] for s, t in pairs]


# -- matrix methods against simalign's own functions on random matrices ----------
def test_methods_on_random_matrices(simalign_mod):
    from xlaug.transforms import align_methods as am
    SA = simalign_mod.SentenceAligner
    rng = np.random.default_rng(0)
    shapes = [(1, 1), (1, 4), (3, 2), (2, 5), (5, 5), (7, 4), (9, 11)]
    mats = [rng.random(s).astype(np.float32) for s in shapes]
    # Repeated values make ties, where the first index must win as in numpy.
    mats.append(np.array([[0.5, 0.5, 0.2], [0.5, 0.5, 0.1], [0.3, 0.3, 0.3]], dtype=np.float32))
    M = max(x.shape[0] for x in mats)
    N = max(x.shape[1] for x in mats)
    sim = torch.full((len(mats), M, N), am.PAD)
    for b, x in enumerate(mats):
        sim[b, :x.shape[0], :x.shape[1]] = torch.from_numpy(x)
    m = torch.tensor([x.shape[0] for x in mats])
    n = torch.tensor([x.shape[1] for x in mats])
    valid = am.valid_mask(m, n, M, N)
    inter = am.argmax_links(sim, valid)
    iterm = am.itermax_links(sim, m, n, valid)
    match = am.match_links(sim, m, n)
    dist = am.apply_distortion(sim, m, n, valid, 0.5)
    for b, x in enumerate(mats):
        r, c = x.shape
        fwd, bwd = SA.get_alignment_matrix(x)
        assert np.array_equal(inter[b, :r, :c].numpy(), (fwd * bwd) > 0)
        assert np.array_equal(iterm[b, :r, :c].numpy(), SA.iter_max(x) > 0)
        assert np.isclose(x[match[b, :r, :c].numpy()].sum(), x[SA.get_max_weight_match(x) > 0].sum())
        assert int(match[b].sum()) == min(r, c)
        assert np.allclose(dist[b, :r, :c].numpy(), SA.apply_distortion(x, 0.5))
        assert not inter[b].logical_and(~valid[b]).any() and not iterm[b].logical_and(~valid[b]).any()


def test_grow_links_by_hand():
    from xlaug.transforms import align_methods as am
    cells = lambda pairs: torch.tensor([[[(i, j) in pairs for j in range(4)] for i in range(4)]])
    fwd = cells({(0, 0), (1, 1), (2, 2), (3, 0)})   # each row's best column
    bwd = cells({(0, 0), (1, 1), (2, 2), (3, 3)})   # each column's best row
    got = am.grow_links(fwd, bwd)[0]
    # (3, 3) grows from the diagonal (row 3 and column 3 unlinked); (3, 0) is
    # then not next to a link and both its ends are linked: left out.
    assert got.nonzero().tolist() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    # final step: a union link whose source is still unlinked joins
    fwd = cells({(0, 0), (3, 1)})
    bwd = cells({(0, 0)})
    assert am.grow_links(fwd, bwd)[0].nonzero().tolist() == [[0, 0], [3, 1]]


def test_grow_between_intersection_and_union():
    from xlaug.transforms import align_methods as am
    rng = np.random.default_rng(1)
    shapes = [(1, 1), (2, 5), (5, 5), (7, 4), (9, 11)]
    M, N = 9, 11
    sim = torch.full((len(shapes), M, N), am.PAD)
    for b, (r, c) in enumerate(shapes):
        sim[b, :r, :c] = torch.from_numpy(rng.random((r, c)).astype(np.float32))
    m = torch.tensor([s[0] for s in shapes])
    n = torch.tensor([s[1] for s in shapes])
    valid = am.valid_mask(m, n, M, N)
    fwd = am._onehot_rows(sim) & valid
    bwd = am._onehot_cols(sim) & valid
    grown = am.grow_links(fwd, bwd)
    assert not (am.argmax_links(sim, valid) & ~grown).any()
    assert not (grown & ~(fwd | bwd)).any()
    # every real row and column ends up linked (each has its argmax in the union)
    for b, (r, c) in enumerate(shapes):
        assert grown[b, :r, :c].any(dim=1).all() and grown[b, :r, :c].any(dim=0).all()


def test_grow_method_in_aligner(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    pairs = [(CORPUS[k].split(), CORPUS[k + 1].split()) for k in range(0, 10, 2)]
    arg = WordAligner(tiny_encoder, layer=2, method="argmax").align(pairs)
    grow = WordAligner(tiny_encoder, layer=2, method="grow").align(pairs)
    for a, g, (s, t) in zip(arg, grow, pairs):
        assert set(a.links) <= set(g.links)
        assert {i for i, _ in g.links} == set(range(len(s))) and {j for _, j in g.links} == set(range(len(t)))


def test_softmax_links_by_hand():
    from xlaug.transforms import align_methods as am
    scores = torch.tensor([[[5.0, 0.0, -9.0], [0.0, 6.0, 4.0]]])
    valid = am.valid_mask(torch.tensor([2]), torch.tensor([3]), 2, 3)
    fwd = np.exp(scores[0].numpy()) / np.exp(scores[0].numpy()).sum(1, keepdims=True)
    bwd = np.exp(scores[0].numpy()) / np.exp(scores[0].numpy()).sum(0, keepdims=True)
    for th in (1e-3, 0.1, 0.5):
        got = am.softmax_links(scores, valid, th)[0].numpy()
        assert np.array_equal(got, (fwd > th) & (bwd > th))
    assert am.softmax_links(scores, valid, 1e-3)[0].sum() > am.softmax_links(scores, valid, 0.5)[0].sum()


def test_nn_margin_by_hand():
    from xlaug.transforms import align_methods as am
    sim = torch.tensor([[[0.9, 0.1, am.PAD], [0.2, 0.4, am.PAD]]])
    valid = am.valid_mask(torch.tensor([2]), torch.tensor([2]), 2, 3)
    rows = ((0.9 - 0.5) + (0.4 - 0.3)) / 2
    cols = ((0.9 - 0.55) + (0.4 - 0.25)) / 2
    assert float(am.nn_margin(sim, valid)[0]) == pytest.approx((rows + cols) / 2)


def test_softmax_temperature_uses_cosine(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    sharp = WordAligner(tiny_encoder, layer=2, method="softmax", softmax_temperature=1e-6).align(PAIRS)
    soft = WordAligner(tiny_encoder, layer=2, method="softmax", softmax_temperature=10.0).align(PAIRS)
    argmax = WordAligner(tiny_encoder, layer=2, method="argmax").align(PAIRS)
    # A very low temperature leaves only each row's/column's best: ArgMax links.
    assert [a.links for a in sharp] == [a.links for a in argmax]
    # A very high one makes every probability ~1/len, above 1e-3 for short pairs: all links.
    assert all(len(a.links) == len(s) * len(t) for a, (s, t) in zip(soft, PAIRS) if len(s) * len(t) < 100)


# -- batching, output shape -------------------------------------------------------
def test_batch_size_does_not_change_links(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    one = WordAligner(tiny_encoder, layer=2, batch_size=1).align(PAIRS)
    many = WordAligner(tiny_encoder, layer=2, batch_size=64).align(PAIRS)
    assert [a.links for a in one] == [a.links for a in many]
    assert np.allclose(sum((a.scores for a in one), ()), sum((a.scores for a in many), ()), atol=1e-5)


def test_alignment_shape_and_scores(aligners):
    for method in ("argmax", "itermax", "match"):
        for al, (s, t) in zip(aligners[(method, 2)].align(PAIRS), PAIRS):
            assert list(al.links) == sorted(set(al.links)) and al.links
            assert len(al.scores) == len(al.links)
            assert all(0 <= i < len(s) and 0 <= j < len(t) for i, j in al.links)
            assert all(0.0 <= v <= 1.0 for v in al.scores)
            assert 0.0 < al.coverage(len(s), len(t)) <= 1.0


def test_min_link_sim_drops_weak_links(tiny_encoder, aligners):
    from xlaug.transforms.align import WordAligner
    plain = aligners[("argmax", 2)].align(PAIRS)
    # Another batching than plain's: the cut must not sit on a score.
    cut = _cut_in_a_gap([v for a in plain for v in a.scores])
    nulled = WordAligner(tiny_encoder, layer=2, min_link_sim=cut).align(PAIRS)
    for p, q in zip(plain, nulled):
        assert q.links == tuple(l for l, v in zip(p.links, p.scores) if v >= cut)
    assert 0 < sum(len(a.links) for a in nulled) < sum(len(a.links) for a in plain)


def test_softmax_method_runs_and_threshold_matters(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    low = WordAligner(tiny_encoder, layer=2, method="softmax", softmax_threshold=1e-3).align(PAIRS)
    high = WordAligner(tiny_encoder, layer=2, method="softmax", softmax_threshold=0.3).align(PAIRS)
    n_low, n_high = sum(len(a.links) for a in low), sum(len(a.links) for a in high)
    assert n_high < n_low
    assert all(set(h.links) <= set(lo.links) for h, lo in zip(high, low))


def test_layer_truncation_keeps_hidden_state(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    full = WordAligner(tiny_encoder, layer="auto", auto_layers=[1, 2])
    cut = WordAligner(tiny_encoder, layer=1)
    assert len(cut.model.encoder.layer) == 1 and len(full.model.encoder.layer) == 2
    sents = full._tokenize([p[0] for p in PAIRS])
    a = full._embed(sents, [1])
    b = cut._embed(cut._tokenize([p[0] for p in PAIRS]), [1])
    for x, y in zip(a, b):
        assert torch.allclose(x[1], y[1], atol=1e-5)
    assert [r.links for r in full.align(PAIRS, layer=1)] == [r.links for r in cut.align(PAIRS)]


def test_bad_options(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    with pytest.raises(ValueError, match="method"):
        WordAligner(tiny_encoder, method="nope")
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        WordAligner(tiny_encoder, layer=5)
    with pytest.raises(ValueError, match="long_input"):
        WordAligner(tiny_encoder, long_input="truncate")
    with pytest.raises(ValueError, match="unknown aligner option"):
        WordAligner(tiny_encoder, distorsion=0.3)
    with pytest.raises(ValueError, match="layer 2 is not available"):
        WordAligner(tiny_encoder, layer=1).align(PAIRS, layer=2)


# -- long input -------------------------------------------------------------------
def test_long_input_reject_and_window(tiny_encoder):
    from xlaug.transforms.align import WordAligner
    long_src = ("the cat sat on the mat . " * 30).split()   # far over 128 positions
    long_tgt = ("die Katze sass auf der Matte . " * 30).split()
    pairs = [PAIRS[0], (long_src, long_tgt), PAIRS[1]]
    rej = WordAligner(tiny_encoder, layer=2).align(pairs)
    assert rej[1].error == "too_long" and not rej[1].links and "128" in rej[1].detail
    assert rej[0].error is None and rej[2].error is None
    win = WordAligner(tiny_encoder, layer=2, long_input="window").align(pairs)
    assert win[1].error is None
    assert {i for i, _ in win[1].links} and max(i for i, _ in win[1].links) > 100  # the tail is aligned
    assert all(i < len(long_src) and j < len(long_tgt) for i, j in win[1].links)
    assert win[0].links == rej[0].links and win[2].links == rej[2].links


# -- layer auto -------------------------------------------------------------------
def test_choose_layer(scrambled_encoder):
    from xlaug.transforms.align import WordAligner
    wa = WordAligner(scrambled_encoder, layer="auto")
    layer, crit = wa.choose_layer(PAIRS)
    assert set(crit) == {1, 2} and layer == max(crit, key=crit.get)
    assert layer == 1 and crit[1] - crit[2] > 0.01  # the scrambled layer loses clearly
    assert wa.choose_layer(PAIRS)[0] == layer and wa.choose_layer(PAIRS)[1] == pytest.approx(crit)
    got = wa.align(PAIRS)  # chooses on the pairs themselves, then aligns at that layer
    assert wa.layer == layer
    want = WordAligner(scrambled_encoder, layer=layer).align(PAIRS)
    assert [a.links for a in got] == [a.links for a in want]
    assert [a.links for a in got] != [a.links for a in WordAligner(scrambled_encoder, layer=2).align(PAIRS)]


# -- the stage --------------------------------------------------------------------
def _records():
    from xlaug.transforms.record import Record
    recs = [Record(id=f"r{k}", src_lang="en", tgt_lang="de", src_tokens=tuple(s), tgt_tokens=tuple(t))
            for k, (s, t) in enumerate(PAIRS)]
    recs.append(Record(id="text", src_text="the cat", tgt_text="die Katze"))
    recs.append(Record(id="empty", src_text="the cat", tgt_text="   "))
    recs.append(Record(id="mono", src_text="the cat"))
    recs.append(Record(id="ctrl", src_tokens=("the", "cat"), tgt_tokens=("\u200b", "\x00")))
    recs.append(Record(id="long", src_text="the cat sat . " * 60, tgt_text="die Katze . " * 60))
    return recs


def test_align_step(tiny_encoder):
    from xlaug.transforms.align import AlignStep, WordAligner
    from xlaug.transforms.record import Rejected
    step = AlignStep(tiny_encoder, layer=2, batch_size=4)
    shipped = len(pickle.dumps(step))
    assert shipped < 4000  # options only: the model never travels with the stage
    out = list(step.run(_records()))
    assert len(out) == len(_records())
    by_id = {(o.record.id if isinstance(o, Rejected) else o.id): o for o in out}
    assert {k for k, o in by_id.items() if isinstance(o, Rejected)} == {"empty", "mono", "long", "ctrl"}
    assert by_id["empty"].reason == "no_tokens" and by_id["mono"].reason == "no_tokens"
    assert by_id["ctrl"].reason == "no_subwords" and "target" in by_id["ctrl"].detail
    assert by_id["long"].reason == "too_long" and by_id["long"].stage == "align"
    expected = WordAligner(tiny_encoder, layer=2).align(PAIRS)
    for k, al in enumerate(expected):
        rec = by_id[f"r{k}"]
        # Another batching than the step's: links exactly, similarities up to rounding.
        assert rec.alignment == al.links and rec.link_scores == pytest.approx(al.scores, abs=1e-5)
        assert rec.scores["align_coverage"] == pytest.approx(al.coverage(len(PAIRS[k][0]), len(PAIRS[k][1])))
        assert rec.scores["align_sim_mean"] == pytest.approx(sum(al.scores) / len(al.scores))
        assert rec.origin[-1]["stage"] == "align" and rec.origin[-1]["params"]["layer"] == 2
    assert by_id["text"].alignment  # tokens split from text
    assert len(pickle.dumps(step)) == shipped  # still no model in the pickle after a run


@pytest.mark.parametrize("layer", [2, "auto"])
def test_align_stage_on_beam(scrambled_encoder, layer):
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    import apache_beam as beam
    from xlaug.transforms.align import AlignStep, WordAligner
    from xlaug.transforms.apply import ApplyStep

    recs = _records()
    step = AlignStep(scrambled_encoder, layer=layer, batch_size=3)
    layer_used = _clear_auto_layer(scrambled_encoder, recs) if layer == "auto" else layer
    expected = WordAligner(scrambled_encoder, layer=layer_used).align(PAIRS)
    want = sorted((f"r{k}", al.links) for k, al in enumerate(expected)) + [("text", None)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(recs) | ApplyStep(step)
        kept = out.kept | "K" >> beam.Map(lambda r: (r.id, r.alignment if r.id != "text" else None))
        assert_that(kept, equal_to(want), label="kept")
        assert_that(out.rejected | beam.Map(lambda r: (r.record.id, r.reason)),
                    equal_to([("empty", "no_tokens"), ("mono", "no_tokens"), ("long", "too_long"),
                              ("ctrl", "no_subwords")]),
                    label="rejected")


@pytest.mark.parametrize("options", [
    ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
    ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
], ids=["portable", "multiprocess"])
def test_align_stage_same_on_other_runners(scrambled_encoder, options):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    import apache_beam as beam
    from xlaug.transforms.align import AlignStep, WordAligner
    from xlaug.transforms.apply import ApplyStep

    recs = _records()
    pairs = [(list(r.tokens("src")), list(r.tokens("tgt"))) for r in recs
             if r.tokens("src") and r.tokens("tgt") and r.id != "long"]
    layer = _clear_auto_layer(scrambled_encoder, recs)
    expected = WordAligner(scrambled_encoder, layer=layer).align(pairs)
    want = [(r.id, al.links) for r, al in zip([r for r in recs if r.id not in ("empty", "mono", "long")],
                                                expected) if not al.error]
    with TestPipeline(options=PipelineOptions(options)) as p:
        out = p | beam.Create(recs) | ApplyStep(AlignStep(scrambled_encoder, layer="auto", batch_size=3))
        assert_that(out.kept | "K" >> beam.Map(lambda r: (r.id, r.alignment)), equal_to(want), label="kept")
        assert_that(out.rejected | beam.Map(lambda r: r.reason),
                    equal_to(["no_tokens", "no_tokens", "too_long", "no_subwords"]), label="rejected")


# -- AER and the eval command -----------------------------------------------------
def test_aer_by_hand():
    from xlaug.transforms.metrics import aer
    sure, possible = {(0, 0), (1, 1)}, {(1, 2)}
    assert aer({(0, 0), (1, 1)}, sure, possible) == (1.0, 1.0, 0.0)
    p, r, e = aer({(0, 0), (1, 2), (2, 2)}, sure, possible)
    # |A∩S| = 1, |A∩P| = 2, |A| = 3, |S| = 2 -> AER = 1 - 3/5
    assert (p, r, e) == (pytest.approx(2 / 3), 0.5, pytest.approx(0.4))
    assert aer(set(), sure, possible)[2] == 1.0


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_eval_align_cli(tiny_encoder, tmp_path, capsys):
    from xlaug.pipelines.cli import main
    from xlaug.transforms.align import WordAligner
    from xlaug.transforms.metrics import aer
    pairs = _write(tmp_path, "p.txt", "".join(f"{' '.join(s)} ||| {' '.join(t)}\n" for s, t in PAIRS[:5]))
    gold_links = [{(i, i) for i in range(min(len(s), len(t)))} for s, t in PAIRS[:5]]
    gold = _write(tmp_path, "g.txt", "".join(
        " ".join(f"{i + 1}{'-' if i % 2 == 0 else 'p'}{j + 1}" for i, j in sorted(g)) + "\n" for g in gold_links))
    assert main(["eval", "align", "--pairs", pairs, "--gold", gold, "--align-model", tiny_encoder, "--align-layer", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    got = WordAligner(tiny_encoder, layer=2).align(PAIRS[:5])
    pred = {(k, i, j) for k, a in enumerate(got) for i, j in a.links}
    sure = {(k, i, j) for k, g in enumerate(gold_links) for i, j in g if i % 2 == 0}
    poss = {(k, i, j) for k, g in enumerate(gold_links) for i, j in g if i % 2 == 1}
    assert lines[-1] == f"AER={aer(pred, sure, poss)[2]:.4f}"
    assert any(line.startswith("precision=") for line in lines)


@pytest.mark.parametrize("gold_text,pairs_text,message", [
    ("1-1\n1x2\n", "a ||| b\nc ||| d\n", "g.txt:2: bad link '1x2'"),
    ("1-1\n", "a ||| b\nc ||| d\n", "1 gold lines but 2 pairs"),
    ("1-1\n0-1\n", "a ||| b\nc ||| d\n", "g.txt:2: bad link '0-1'"),
    ("1-1\n1-3\n", "a ||| b\nc ||| d\n", "g.txt:2: link '1-3' is outside the pair"),
    ("1-1\n1-1\n", "a ||| b\nc d\n", "p.txt:2: expected 'source ||| target'"),
    ("1-1\n1-1\n", "a ||| b\n ||| d\n", "p.txt:2: the source side is empty"),
])
def test_eval_align_bad_input(tmp_path, capsys, gold_text, pairs_text, message):
    from xlaug.pipelines.cli import main
    pairs = _write(tmp_path, "p.txt", pairs_text)
    gold = _write(tmp_path, "g.txt", gold_text)
    assert main(["eval", "align", "--pairs", pairs, "--gold", gold, "--align-model", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_align_missing_model(tmp_path, capsys):
    from xlaug.pipelines.cli import main
    pairs = _write(tmp_path, "p.txt", "a ||| b\n")
    gold = _write(tmp_path, "g.txt", "1-1\n")
    assert main(["eval", "align", "--pairs", pairs, "--gold", gold, "--align-model", str(tmp_path / "none")]) == 2
    assert "--align-model" in capsys.readouterr().err


def test_align_args_build_a_step(tiny_encoder):
    from xlaug.pipelines.align_args import align_step
    from xlaug.pipelines.cli import CliError, parse_args
    base = ["run", "align", "--input", "x", "--output", "y", "--align-model", tiny_encoder]
    _, _, o = parse_args(base + ["--align-layer", "auto", "--align-method", "itermax",
                                 "--align-batch-size", "5", "--distortion", "0.2"])
    step = align_step(o)
    assert step.kwargs["layer"] == "auto" and step.kwargs["method"] == "itermax"
    assert step.kwargs["distortion"] == 0.2 and step.batch_size == 5
    assert step.name == "align" and step.summary is not None  # layer auto: chosen on a sample
    with pytest.raises(CliError, match="--align-layer: expected a layer number"):
        parse_args(base + ["--align-layer", "-1"])


# -- the real encoder (slow) ------------------------------------------------------
@pytest.mark.slow
def test_real_encoder_enfr_equals_simalign_and_aer(real_encoder, shared_data, simalign_mod):
    from xlaug.transforms.metrics import corpus_aer, read_alignment_gold as read_gold, read_alignment_pairs as read_pairs
    from xlaug.transforms.align import WordAligner
    pairs = read_pairs(os.path.join(shared_data, "alignment", "enfr.src-tgt"))
    gold = read_gold(os.path.join(shared_data, "alignment", "enfr.gold"), pairs)
    ours = WordAligner(real_encoder, layer=8, method="argmax").align(pairs)
    ref = simalign_mod.SentenceAligner(model=real_encoder, token_type="bpe", matching_methods="a", layer=8)
    assert [list(a.links) for a in ours] == [[tuple(x) for x in ref.get_word_aligns(s, t)["inter"]]
                                             for s, t in pairs]
    assert corpus_aer([a.links for a in ours], gold)[2] <= 0.080
    # The defaults (layer 7, ArgMax) meet the target on this set.
    default = WordAligner(real_encoder).align(pairs)
    assert corpus_aer([a.links for a in default], gold)[2] <= 0.079


@pytest.mark.slow
def test_real_encoder_layer_auto(real_encoder, shared_data):
    from xlaug.transforms.metrics import corpus_aer, read_alignment_gold as read_gold, read_alignment_pairs as read_pairs
    from xlaug.transforms.align import WordAligner
    pairs = read_pairs(os.path.join(shared_data, "alignment", "enfr.src-tgt"))
    gold = read_gold(os.path.join(shared_data, "alignment", "enfr.gold"), pairs)
    wa = WordAligner(real_encoder, layer="auto")
    got = wa.align(pairs)
    assert 5 <= wa.layer <= 8  # the middle layers, where AER is lowest on this set
    assert corpus_aer([a.links for a in got], gold)[2] <= 0.085
