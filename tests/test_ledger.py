"""The identity check by ids (transforms/ledger.py): the pure core, and whole
runs with deliberately broken stages."""
import json
import os
import pickle
import random
from fractions import Fraction

import pytest

from xlaug.transforms import ledger
from xlaug.transforms.ledger import Books, Tally, merge_all, signed_fraction, summaries, terms
from xlaug.transforms.record import Created, Record, Rejected, created_by
from xlaug.transforms.stage import Step


def recs(n, prefix="in.tsv"):
    return [Record(id=f"{prefix}:{i}", src_text=f"sentence {i}") for i in range(n)]


def children(parent, k, stage="s", keep=None):
    """k records made from ``parent`` by ``stage`` (all, or the indices in keep)."""
    return [parent.replace(id=f"{parent.id}-c{i}").with_origin(stage, None, parent=parent.id, siblings=k, child=i)
            for i in range(k) if keep is None or i in keep]


def tally(inputs, outputs, stage="s"):
    t = Tally()
    for r in inputs:
        t.inputs += 1
        t.add(*terms(r, stage), 1)
    for r in outputs:
        t.kept += 1
        t.add(*terms(r, stage), -1)
    return t


def problems(summary):
    return sorted((p["id"], p["problem"]) for p in summary.get("problems", []))


# -- the record convention ------------------------------------------------------

def test_created_by_reads_the_stage_mark_and_ignores_other_stages():
    r = Record(id="a")
    kid = r.replace(id="a-bt0").with_origin("backtranslate", "m", parent="a", siblings=3, child=0, beam=4)
    assert created_by(kid, "backtranslate") == Created("a", 3, 0)
    assert created_by(kid, "filter") is None
    assert created_by(r.with_origin("backtranslate", "m", beam=4), "backtranslate") is None
    # Malformed marks are no marks; an out-of-range index is dropped, the rest kept.
    assert created_by(r.with_origin("s", None, parent="a", siblings=0), "s") is None
    assert created_by(r.with_origin("s", None, parent="a", siblings=2, child=5), "s") == Created("a", 2, None)
    # The mark survives the JSON form.
    assert created_by(Record.from_json(kid.to_json()), "backtranslate") == Created("a", 3, 0)


# -- the pure core ----------------------------------------------------------------

def test_balanced_stage_is_ok_and_counts_created():
    ins = recs(200)
    outs = ins[:100] + [k for r in ins[100:] for k in children(r, 3)]
    s = tally(ins, outs).summary("s")
    assert s["ok"] and s["in"] == 200 and s["out"] == 400 and s["created"] == 200


@pytest.mark.parametrize("case, expected", [
    ("drop", [("in.tsv:17", "missing")]),
    ("duplicate", [("in.tsv:5", "duplicated or unexpected")]),
    ("both", [("in.tsv:17", "missing"), ("in.tsv:5", "duplicated or unexpected")]),
    ("renamed", [("in.tsv:3", "missing"), ("in.tsv:3-x", "duplicated or unexpected")]),
])
def test_broken_filter_is_named(case, expected):
    ins = recs(100)
    outs = list(ins)
    if case in ("drop", "both"):
        outs.remove(ins[17])
    if case in ("duplicate", "both"):
        outs.append(ins[5])
    if case == "renamed":
        outs[3] = ins[3].replace(id="in.tsv:3-x")
    s = tally(ins, outs).summary("s")
    assert not s["ok"] and s["differ"] == len(expected)
    assert problems(s) == sorted(expected)
    # Counts alone would not see 'both': as many out as in.
    if case == "both":
        assert s["in"] == s["out"]


@pytest.mark.parametrize("keep, extra, problem, detail", [
    ({0, 2}, [], "child count wrong", "1/3 of its children missing"),
    ({0, 1, 2}, [1], "child count wrong", "1/3 of its children too many"),
    ({0, 1}, [1], "children differ", None),           # child 2 lost, child 1 twice
    (set(), [], "missing", None),                      # every child lost
])
def test_broken_children_are_named(keep, extra, problem, detail):
    ins = recs(10)
    outs = [k for r in ins[1:] for k in children(r, 3)]
    outs += children(ins[0], 3, keep=keep) + [children(ins[0], 3)[i] for i in extra]
    s = tally(ins, outs).summary("s")
    assert not s["ok"] and problems(s) == [("in.tsv:0", problem)]
    if detail:
        assert s["problems"][0]["detail"] == detail


def test_rejected_children_still_count():
    parent = recs(1)[0]
    kids = children(parent, 3)
    t = tally([parent], kids[:2])
    t.rejected += 1
    t.add(*terms(Rejected.of(kids[2], "s", "empty_translation").record, "s"), -1)
    assert t.summary("s")["ok"]


def test_marks_of_an_earlier_run_nest():
    """Records made by stage s in an earlier run go through s again: passing
    unchanged, or split into children of their own, they still add up."""
    roots = recs(4)
    earlier = [k for r in roots for k in children(r, 2)]       # in.tsv:i-c0, -c1
    passed = earlier[:4]
    split = [k for r in earlier[4:] for k in children(r, 3)]   # marks nest: 1/(2*3) of the root
    assert tally(earlier, passed + split).summary("s")["ok"]
    # A duplicated grandchild plus a lost one is still seen, on its parent.
    broken = passed + split[:-1] + [split[-2]]
    s = tally(earlier, broken).summary("s")
    assert problems(s) == [(earlier[-1].id, "children differ")]


def test_many_differences_are_all_named():
    ins = recs(5000)
    rng = random.Random(4)
    lost = set(rng.sample(range(5000), 30))
    outs = [r for i, r in enumerate(ins) if i not in lost]
    s = tally(ins, outs).summary("s", show=100)
    assert not s["ok"] and s["differ"] == 30 and "note" not in s
    assert {p["id"] for p in s["problems"]} == {f"in.tsv:{i}" for i in lost}
    assert len(tally(ins, outs).summary("s")["problems"]) == ledger.SHOW


def test_too_many_differences_say_at_least_how_many():
    ins = recs(3000)
    s = tally(ins, ins[:2000]).summary("s")
    assert not s["ok"]
    assert s["note"].startswith(f"{s['differ']} or more ids differ")
    assert "1000 more records went in than came out" in s["note"]
    # A lower bound that holds: no more keys than differ can be claimed.
    assert 0 < s["differ"] <= 1000


def test_long_and_unicode_ids_are_named():
    long_id = "corpus/" + "ü" * 80 + ":12"
    ins = [Record(id=long_id), Record(id="短い:1"), Record(id="x")]
    s = tally(ins, ins[2:]).summary("s")
    named = {p["id"] for p in s["problems"]}
    assert "短い:1" in named
    assert any(n.endswith("…") and long_id.startswith(n[:-1]) for n in named)


def test_merge_in_any_order_and_pickling_give_the_same_answer():
    ins = recs(600)
    outs = ins[:300] + ins[301:] + [k for k in children(ins[0], 2)] + [ins[9]]
    books_in, books_out = Books([("s", "in")], "ins"), Books([("s", "kept")], "outs")
    parts = []
    rng = random.Random(1)
    for book, items in ((books_in, ins), (books_out, outs)):
        items = list(items)
        rng.shuffle(items)
        for i in range(0, len(items), 97):
            acc = book.empty()
            for r in items[i:i + 97]:
                book.add(acc, r)
            parts.append(pickle.loads(pickle.dumps(acc)))
    rng.shuffle(parts)
    s = summaries(merge_all(parts), [("s", True)], {"s": [("ins", 1), ("outs", -1)]})["s"]
    assert problems(s) == sorted([("in.tsv:300", "missing"), ("in.tsv:9", "duplicated or unexpected"),
                                  ("in.tsv:0", "duplicated or unexpected")])
    # in.tsv:0 went in once, came out as itself and as its two children.
    assert s["in"] == 600 and s["out"] == 602


def test_books_count_children_for_their_parent_even_an_only_child():
    """Through Books (one table per PCollection, corrections per stage): a
    stage's kept output read once for it and for the next stage."""
    ins = recs(20)
    outs = [k for r in ins[:10] for k in children(r, 3)] + [k for r in ins[10:] for k in children(r, 1)]
    first, fused, last = (Books([("s", "in")], "a"), Books([("s", "kept"), ("t", "in")], "b"),
                          Books([("t", "kept")], "c"))
    parts = []
    for book, items in ((first, ins), (fused, outs), (last, outs)):
        acc = book.empty()
        for r in items:
            book.add(acc, r)
        parts.append(acc)
    wiring = {"s": [("a", 1), ("b", -1)], "t": [("b", 1), ("c", -1)]}
    got = summaries(merge_all(parts), [("s", True), ("t", True)], wiring)
    assert got["s"]["ok"] and got["s"]["created"] == 20 and got["t"]["ok"] and got["t"]["in"] == 40
    acc = last.empty()
    for r in outs[1:]:  # t loses one record
        last.add(acc, r)
    parts[2] = acc
    got = summaries(merge_all(parts), [("s", True), ("t", True)], wiring)
    assert got["s"]["ok"] and problems(got["t"]) == [(outs[0].id, "missing")]


def test_signed_fraction_reconstructs_small_fractions():
    for f in (Fraction(1, 3), Fraction(-2, 5), Fraction(7), Fraction(-1), Fraction(1, 24)):
        w = f.numerator * ledger.inverse(f.denominator) % ledger.P
        assert signed_fraction(w) == f


# -- whole runs ---------------------------------------------------------------------

class Broken(Step):
    """Passes records through, except: drops ``drop``, emits ``dup`` twice."""
    name = "broken"

    def __init__(self, drop=(), dup=()):
        self.drop, self.dup = set(drop), set(dup)

    def process(self, record):
        if record.id in self.drop:
            return
        yield record
        if record.id in self.dup:
            yield record


class NBest(Step):
    """Three new records per input, like n-best back-translation; can lose one
    (``lose``: the parent whose third child vanishes); rejects child 1 of
    ``reject`` (a rejected child still counts)."""
    name = "nbest"

    def __init__(self, lose=None, reject=None):
        self.lose, self.reject = lose, reject

    def process(self, record):
        for k in range(3):
            if record.id == self.lose and k == 2:
                continue
            child = record.replace(id=f"{record.id}-bt{k + 1}").with_origin(
                self.name, "m", parent=record.id, siblings=3, child=k)
            if record.id == self.reject and k == 1:
                yield Rejected.of(child, self.name, "empty_translation")
            else:
                yield child


def corpus(tmp_path, n=30):
    path = tmp_path / "c.tsv"
    path.write_text("".join(f"sentence number {i}\tSatz Nummer {i}\n" for i in range(n)), encoding="utf-8")
    return str(path)


def run(tmp_path, stages, *extra):
    from tests.test_pipeline import parse
    from xlaug.pipelines import common
    out = str(tmp_path / "out")
    args = parse(["--input", corpus(tmp_path), "--output", out, "--output-format", "jsonl", *extra])
    report = common.run_pipeline(args, stages, command="test")
    assert json.load(open(os.path.join(out, "report.json")))["identity_ok"] == report["identity_ok"]
    return report


def stage_row(report, name):
    return next(r for r in report["stages"] if r["name"] == name)


@pytest.mark.parametrize("broken, named", [
    (Broken(drop=["c.tsv:4"]), [("c.tsv:4", "missing")]),
    (Broken(dup=["c.tsv:7"]), [("c.tsv:7", "duplicated or unexpected")]),
    (Broken(drop=["c.tsv:4"], dup=["c.tsv:7"]), [("c.tsv:4", "missing"), ("c.tsv:7", "duplicated or unexpected")]),
    (NBest(lose="c.tsv:2"), [("c.tsv:2", "child count wrong")]),
], ids=["drop", "duplicate", "both", "lost-child"])
def test_a_broken_stage_fails_the_run_naming_stage_and_ids(tmp_path, broken, named):
    report = run(tmp_path, [broken])
    assert not report["identity_ok"]
    row = stage_row(report, broken.name)
    assert not row["ids_ok"]
    assert sorted((p["id"], p["problem"]) for p in row["problems"]) == sorted(named)
    assert f"stage {broken.name}:" in report["error"]
    assert all(i in report["error"] for i, _ in named)
    assert all(r["ids_ok"] for r in report["stages"] if r["name"] != broken.name)


def test_broken_stages_with_equal_counts_still_fail(tmp_path):
    """Drop one and duplicate another: in == out, as the old count check saw it."""
    report = run(tmp_path, [Broken(drop=["c.tsv:4"], dup=["c.tsv:7"])])
    row = stage_row(report, "broken")
    assert row["in"] == row["out"] == 30 and not report["identity_ok"]


def test_a_correct_nbest_stage_passes(tmp_path):
    report = run(tmp_path, [NBest(reject="c.tsv:1")])
    assert report["identity_ok"] and "error" not in report
    assert stage_row(report, "nbest") == {
        "name": "nbest", "in": 30, "out": 89, "rejected": 1, "rejected_by_reason": {"empty_translation": 1},
        "created": 60, "ids_ok": True}
    assert (report["read"], report["kept"], report["rejected"], report["created"]) == (30, 89, 1, 60)
    card = open(os.path.join(str(tmp_path / "out"), "README.md"), encoding="utf-8").read()
    assert "Every record is accounted for" in card and "| nbest | 30 | 89 | 1 | 60 | ok |" in card


def test_the_command_exits_non_zero(tmp_path, monkeypatch, capsys):
    from xlaug.pipelines import cli, filter as filter_cmd
    monkeypatch.setattr(filter_cmd, "build_stages", lambda args: [Broken(drop=["c.tsv:4"])])
    out = str(tmp_path / "out")
    rc = cli.main(["run", "filter", "--input", corpus(tmp_path), "--output", out, "--output-format", "jsonl"])
    assert rc == 1
    assert "stage broken: 1 id(s) do not add up: c.tsv:4 (missing)" in capsys.readouterr().err
    report = json.load(open(os.path.join(out, "report.json")))
    assert not report["identity_ok"] and report["stages"][1]["problems"][0]["id"] == "c.tsv:4"
    card = open(os.path.join(out, "README.md"), encoding="utf-8").read()
    assert "identity check by ids failed" in card and "c.tsv:4 (missing)" in card
    assert "| broken | 30 | 29 | 0 | 0 | MISMATCH |" in card


@pytest.mark.parametrize("runner", ["multiprocess", "portable"])
def test_other_runners_pass_correct_and_fail_broken_stages(tmp_path, runner):
    opts = ["--runner", runner, "--workers", "2"]
    good = run(tmp_path, [NBest(reject="c.tsv:1")], *opts)
    assert good["identity_ok"] and good["kept"] == 89 and good["created"] == 60
    bad = run(tmp_path, [NBest(lose="c.tsv:2"), Broken(drop=["c.tsv:3-bt1"])],
              "--overwrite", *opts)
    assert not bad["identity_ok"]
    assert [(r["name"], [p["id"] for p in r.get("problems", [])]) for r in bad["stages"]] == [
        ("read", []), ("nbest", ["c.tsv:2"]), ("broken", ["c.tsv:3-bt1"])]


# -- the real creating stages follow the convention ------------------------------

def account_step(step, records):
    """A stage's tally from its plain-Python run: inputs in, kept and rejected out."""
    t = Tally()
    for r in records:
        t.inputs += 1
        t.add(*terms(r, step.name), 1)
    for item in step.run(records):
        record = item.record if isinstance(item, Rejected) else item
        t.add(*terms(record, step.name), -1)
        if isinstance(item, Rejected):
            t.rejected += 1
        else:
            t.kept += 1
    return t.summary(step.name)


def test_codeswitch_and_lexicon_samples_add_up_by_ids():
    from tests.test_codeswitch import pairs
    from tests.test_lexicon import rec, small_lexicon
    from xlaug.transforms.codeswitch import CodeSwitchStep
    from xlaug.transforms.lexicon_replace import LexiconReplaceStep

    cs = account_step(CodeSwitchStep(alpha=0.3, samples=3, seed=4), pairs(40, seed=2))
    assert cs["ok"] and cs["created"] > 0
    lx = account_step(LexiconReplaceStep(small_lexicon(), prob=0.5, samples=2, seed=4),
                      [rec("the big house is new in New York", i=i) for i in range(20)]
                      + [rec("zzz qqq", i=99)])
    assert lx["ok"] and lx["created"] > 0 and lx["rejected"] == 1


def test_write_must_write_what_the_last_stage_kept():
    from xlaug.transforms.report import identity_errors
    rows = [{"name": "read", "ids_ok": True, "out": 10}, {"name": "filter", "ids_ok": True, "out": 8}]
    assert identity_errors(rows, kept=8) == []
    assert identity_errors(rows, kept=7) == [
        "write: 7 records written to the splits, but the last stage (filter) kept 8"]
