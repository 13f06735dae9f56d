"""Counts per stage as Beam metrics (namespace xlaug.<stage>), the same as
the report's; the progress line on stderr, shown when forced, never with
--quiet or when stderr is not a terminal."""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.three_files import write_three_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^read ([\d,]+) · kept ([\d,]+) · rejected ([\d,]+) · [\d,]+ rec/s · \d+:\d\d( · .*)?$")


@pytest.fixture
def corpus(tmp_path):
    """Three files with a bad line, a bad ratio and duplicates across files."""
    return write_three_files(tmp_path / "in")


def check_metrics_match(out, report):
    metrics = json.load(open(os.path.join(out, "_stats", "metrics.json")))
    for row in report["stages"]:
        got = metrics.get(row["name"], {})
        assert got.get("out", 0) == row["out"], row["name"]
        assert got.get("rejected", 0) == row["rejected"], row["name"]
        if row["in"] is not None:
            assert got.get("in", 0) == row["in"], row["name"]
        reasons = {k.split(":", 1)[1]: n for k, n in got.items() if k.startswith("rejected:")}
        assert reasons == row["rejected_by_reason"], row["name"]
    return metrics


@pytest.mark.parametrize("part_bytes", [None, "1"], ids=["one-pipeline", "in-parts"])
def test_metrics_count_what_the_report_counts(corpus, tmp_path, monkeypatch, part_bytes):
    from xlaug.pipelines import api
    if part_bytes:
        monkeypatch.setenv("XLAUG_PART_BYTES", part_bytes)
    out = tmp_path / "out"
    report = api.run("filter", input=str(corpus / "part*.tsv"), output=str(out), src_lang="en", tgt_lang="de",
                     skip="langid", max_ratio=2.0)
    assert report["read"] == 90 and report["rejected_by_reason"]["bad_columns"] == 3
    metrics = check_metrics_match(out, report)
    assert set(metrics) == {"read", "filter", "dedup"}


def run_cli(corpus, out, *extra, env=None):
    argv = [sys.executable, "-m", "xlaug.pipelines.cli", "run", "filter", "--input", str(corpus / "part*.tsv"),
            "-o", str(out), "--src-lang", "en", "--tgt-lang", "de", "--skip", "langid", "--max-ratio", "2", *extra]
    full = {k: v for k, v in os.environ.items() if k != "XLAUG_PROGRESS"}
    full.update(XLAUG_PART_BYTES="1", **(env or {}))
    return subprocess.run(argv, cwd=ROOT, env=full, capture_output=True, text=True, timeout=600)


def test_progress_lines_when_forced(corpus, tmp_path):
    done = run_cli(corpus, tmp_path / "out", env={"XLAUG_PROGRESS": "1"})
    assert done.returncode == 0, done.stderr
    lines = [l for l in done.stderr.splitlines() if LINE.match(l)]
    assert lines, done.stderr
    report = json.load(open(tmp_path / "out" / "report.json"))
    read, kept, rejected = (int(x.replace(",", "")) for x in LINE.match(lines[-1]).groups()[:3])
    assert (read, kept, rejected) == (report["read"], report["kept"], report["rejected"])
    assert lines[-1].endswith("parts done 3/3 [##########]")  # one part a file: the bar's total is known


@pytest.mark.parametrize("runner", [[], ["--runner", "multiprocess", "--workers", "2"]],
                         ids=["direct", "multiprocess"])
def test_quiet_prints_nothing_on_stderr(corpus, tmp_path, runner):
    done = run_cli(corpus, tmp_path / "out", "--quiet", *runner, env={"XLAUG_PROGRESS": "1"})
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("read 90, kept ")  # the summary stays on stdout


def test_no_progress_when_stderr_is_no_terminal(corpus, tmp_path):
    done = run_cli(corpus, tmp_path / "out")
    assert done.returncode == 0 and not any(LINE.match(l) for l in done.stderr.splitlines())


def test_backtranslation_counts_its_tokens(tmp_path, tiny_seq2seq):
    from xlaug.pipelines.api import run
    mono = tmp_path / "mono.en"
    lines = ["the cat sat on the mat .", "a house in Berlin is big .", "", "we need more data ."] * 3
    mono.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    report = run("chain", input=str(mono), input_format="text", src_lang="en", tgt_lang="de", output=str(out),
                 export="records", step=[f"backtranslate --translate-model {tiny_seq2seq} --max-new-tokens 8 --n 2",
                                         "filter --skip langid,length_ratio --dedup exact"])
    metrics = check_metrics_match(out, report)
    assert metrics["backtranslate"]["in"] == 9
    # Each word of the 9 non-empty lines is one source token or more.
    assert metrics["backtranslate"]["tokens_translated"] >= sum(len(l.split()) for l in lines)
