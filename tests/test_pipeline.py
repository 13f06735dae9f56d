"""The shared pipeline runner: read -> stages -> dataset + rejected + report."""
import json
import os

import pytest

from xlaug.pipelines import common
from xlaug.transforms.record import Rejected
from xlaug.transforms.stage import Step


class MinTokens(Step):
    """Scores token count; rejects one-token sources."""
    name = "mintok"
    score_ranges = {"ntok": (0, 20)}
    thresholds = {"ntok": (">=", 2)}

    def process(self, record):
        n = len(record.tokens("src"))
        record = record.with_scores(ntok=n)
        if n < 2:
            yield Rejected.of(record, self.name, "too_short", f"{n} token")
        else:
            yield record


class TwoVariants(Step):
    """Makes two records of each: an expanding stage, like n-best."""
    name = "twice"

    def process(self, record):
        for k in range(2):
            yield record.replace(id=f"{record.id}-v{k}").with_origin(
                self.name, None, parent=record.id, siblings=2, child=k)


def parse(argv):
    from xlaug.pipelines.cli import parse_args
    return parse_args(["run", "filter"] + argv)[2]  # the shared options, as every run command has them


@pytest.fixture
def corpus(tmp_path):
    lines = [f"sentence number {i} here\tSatz Nummer {i} hier" for i in range(40)]
    lines[3] = "single\tEinzel"
    lines[7] = "broken line without tab"
    path = tmp_path / "c.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def read_rows(out):
    import datasets
    ds = datasets.load_dataset(out)
    return ds


def test_filter_run_writes_dataset_rejected_and_report(corpus, tmp_path):
    out = str(tmp_path / "out")
    args = parse(["--input", corpus, "--src-lang", "en", "--tgt-lang", "de", "--output", out,
                  "--splits", "train=0.8,test=0.2"])
    report = common.run_pipeline(args, [MinTokens()], command="test")
    assert report["read"] == 40
    assert report["rejected_by_reason"] == {"bad_columns": 1, "too_short": 1}
    assert report["kept"] == 38 and report["identity_ok"]
    assert json.load(open(os.path.join(out, "report.json")))["kept"] == 38
    ds = read_rows(out)
    assert set(ds) == {"train", "test"} and ds["train"].num_rows + ds["test"].num_rows == 38
    assert ds["train"].num_rows == report["splits"]["train"]
    row = ds["train"][0]
    assert row["scores"]["ntok"] >= 2 and row["src_lang"] == "en"
    rejected = [json.loads(l) for f in sorted(os.listdir(os.path.join(out, "rejected")))
                for l in open(os.path.join(out, "rejected", f))]
    assert {(r["stage"], r["reason"], r["loc"].rsplit(":", 1)[1]) for r in rejected} == {
        ("read", "bad_columns", "8"), ("mintok", "too_short", "4")}
    assert report["scores"]["ntok"]["count"] == 39  # kept + the scored rejection
    # The histogram: an SVG whose bars add up to the scored records.
    import xml.etree.ElementTree as ET
    svg = ET.parse(os.path.join(out, "report", "ntok.svg")).getroot()
    bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.find("{http://www.w3.org/2000/svg}title") is not None]
    assert sum(int(b.find("{http://www.w3.org/2000/svg}title").text.rsplit(": ", 1)[1]) for b in bars) == 39 - (
        report["scores"]["ntok"]["histogram"]["under"] + report["scores"]["ntok"]["histogram"]["over"])
    assert report["pictures"] == ["report/ntok.svg"]
    card = open(os.path.join(out, "README.md")).read()
    # The card names each data file: one published before its data does not load part of it.
    files = sorted(f"data/{n}" for n in os.listdir(os.path.join(out, "data")) if n.startswith("train-"))
    assert "too_short" in card and files and all(f"    - {f}\n" in card for f in files)


def test_expanding_stage_is_counted_as_created(corpus, tmp_path):
    out = str(tmp_path / "out")
    args = parse(["--input", corpus, "--output", out, "--output-format", "jsonl"])
    report = common.run_pipeline(args, [MinTokens(), TwoVariants()], command="test")
    assert report["kept"] == 76 and report["created"] == 38 and report["identity_ok"]
    twice = [s for s in report["stages"] if s["name"] == "twice"][0]
    assert twice == {"name": "twice", "in": 38, "out": 76, "rejected": 0,
                     "rejected_by_reason": {}, "created": 38, "ids_ok": True}


def test_existing_output_needs_overwrite(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(common.CliError, match="--overwrite"):
        common.run_pipeline(parse(["--input", corpus, "--output", str(out)]), [], command="test")


def _ids(out):
    import datasets
    return sorted(datasets.load_dataset(out)["train"]["id"])


@pytest.mark.parametrize("runner", ["multiprocess", "portable"])
def test_same_output_on_other_runners(corpus, tmp_path, runner):
    base = str(tmp_path / "direct")
    common.run_pipeline(parse(["--input", corpus, "--output", base]), [MinTokens()], command="t")
    other = str(tmp_path / runner)
    report = common.run_pipeline(parse(["--input", corpus, "--output", other, "--runner", runner,
                                        "--workers", "2"]), [MinTokens()], command="t")
    assert report["identity_ok"] and report["kept"] == 38
    assert _ids(other) == _ids(base)


def test_empty_split_is_left_out_of_the_card(corpus, tmp_path):
    import datasets
    out = str(tmp_path / "out")
    args = parse(["--input", corpus, "--output", out, "--output-format", "jsonl",
                  "--splits", "train=0.999999,test=0.000001"])
    report = common.run_pipeline(args, [], command="test")
    assert report["splits"] == {"train": 39, "test": 0}
    ds = datasets.load_dataset(out)
    assert list(ds) == ["train"] and ds["train"].num_rows == 39


def test_rerun_into_the_same_folder_loads_the_new_rows(tmp_path):
    # datasets keys its cache of a local folder by base name and config only:
    # the card's per-run config name is what makes a re-run load fresh rows.
    import datasets

    src = tmp_path / "pairs.tsv"
    src.write_text("".join(f"word{i} number {i}\tWort{i} Nummer {i}\n" for i in range(30)), encoding="utf-8")
    out = str(tmp_path / "out")
    sizes = []
    for limit in (12, 25):
        args = parse(["--input", str(src), "--output", out, "--limit", str(limit), "--overwrite"])
        report = common.run_pipeline(args, [MinTokens()], command="test")
        sizes.append((report["kept"], len(datasets.load_dataset(out)["train"])))
    assert sizes[0][0] < sizes[1][0]
    assert [loaded for _, loaded in sizes] == [kept for kept, _ in sizes]
