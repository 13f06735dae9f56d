import random
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from xlaug.transforms.apply import ApplyStep
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.sampling import Sampling, coin, decide, sample_key, smoothed_shares

COUNTS = {"en-de": 4000, "en-fr": 1000, "en-sw": 250}


def corpus(counts=COUNTS):
    out = []
    for pair, n in counts.items():
        src, tgt = pair.split("-")
        out += [Record(id=f"{pair}-{i}", src_lang=src, tgt_lang=tgt, src_text="x", tgt_text="y")
                for i in range(n)]
    return out


def test_smoothed_shares_formula():
    t = smoothed_shares(COUNTS, 0.5)
    total = sum(COUNTS.values())
    w = {k: n ** 0.5 for k, n in COUNTS.items()}
    for k, n in COUNTS.items():
        assert t[k]["n"] == n
        assert t[k]["share_before"] == pytest.approx(n / total)
        assert t[k]["share_after"] == pytest.approx(w[k] / sum(w.values()))
    # The smallest language keeps everything; the others are down-sampled so that
    # the expected kept counts are proportional to the target shares.
    assert t["en-sw"]["keep_prob"] == 1.0
    kept = {k: COUNTS[k] * t[k]["keep_prob"] for k in COUNTS}
    for k in COUNTS:
        assert kept[k] / sum(kept.values()) == pytest.approx(t[k]["share_after"])
    # alpha = 1 keeps everything; alpha = 0 equalises.
    assert all(v["keep_prob"] == 1.0 for v in smoothed_shares(COUNTS, 1.0).values())
    assert smoothed_shares(COUNTS, 0.0)["en-de"]["keep_prob"] == pytest.approx(250 / 4000)
    assert smoothed_shares({}, 0.5) == {}


def test_keys_and_coin():
    r = Record(id="1", src_lang="en", tgt_lang="de", src_text="a", tgt_text="b")
    assert (sample_key(r), sample_key(r, "src"), sample_key(r, "tgt")) == ("en-de", "en", "de")
    assert sample_key(Record(id="2", src_lang="sw", src_text="a")) == "sw"
    assert coin(7, "a") == coin(7, "a") and coin(7, "a") != coin(8, "a")
    assert 0.0 <= coin(0, "z") < 1.0


def test_sampled_counts_match_expected_shares():
    table = smoothed_shares(COUNTS, 0.5)
    out = [decide(r, table, seed=13, by="pair") for r in corpus()]
    kept = Counter(sample_key(x) for x in out if isinstance(x, Record))
    rejected = [x for x in out if isinstance(x, Rejected)]
    assert len(kept) == 3 and sum(kept.values()) + len(rejected) == sum(COUNTS.values())
    assert {x.reason for x in rejected} == {"sampled_out"}
    for k, n in COUNTS.items():
        p = table[k]["keep_prob"]
        sd = (n * p * (1 - p)) ** 0.5
        assert abs(kept[k] - n * p) <= 4 * sd + 1e-9, (k, kept[k], n * p)
    share = {k: kept[k] / sum(kept.values()) for k in kept}
    for k in COUNTS:
        assert share[k] == pytest.approx(table[k]["share_after"], abs=0.02)


SMALL = {"en-de": 800, "en-fr": 200, "en-sw": 50}


def _expected_kept(seed):
    table = smoothed_shares(SMALL, 0.5)
    return sorted(r.id for r in corpus(SMALL) if isinstance(decide(r, table, seed, "pair"), Record))


@pytest.mark.parametrize("reverse", [False, True])
def test_sampling_on_beam_is_deterministic_and_reports_shares(reverse):
    records = corpus(SMALL)
    random.Random(5).shuffle(records)
    if reverse:
        records.reverse()
    want = _expected_kept(seed=13)
    assert want != _expected_kept(seed=14)  # the seed matters
    with BeamPipeline(runner="DirectRunner") as p:
        parts = [p | "A" >> beam.Create(records[:400]), p | "B" >> beam.Create(records[400:])]
        out = parts | beam.Flatten() | ApplyStep(Sampling(alpha=0.5, seed=13))
        assert_that(out.kept | "Ids" >> beam.Map(lambda r: r.id), equal_to(want), label="kept")
        assert_that(out.rejected | "N" >> beam.combiners.Count.Globally(),
                    equal_to([len(records) - len(want)]), label="rejected")
        assert_that(out.context, _shares_close_to(smoothed_shares(SMALL, 0.5)), label="shares")


def _shares_close_to(want):
    """A Beam matcher: one shares table with ``want``'s keys and counts, and
    its float fields equal up to rounding (sums may run in any order)."""
    def check(actual):
        assert len(actual) == 1
        (got,) = actual
        assert got.keys() == want.keys()
        for key, row in want.items():
            assert got[key]["n"] == row["n"]
            assert got[key] == pytest.approx(row, rel=1e-12), key
    return check


def test_sampling_rejects_bad_options():
    with pytest.raises(ValueError, match="alpha"):
        Sampling(alpha=-1)
    with pytest.raises(ValueError, match="by"):
        Sampling(alpha=0.5, by="script")
