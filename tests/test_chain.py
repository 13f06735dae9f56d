"""run chain: stages of several commands in one pipeline, and the Python API."""
import json
import os

import pytest

from xlaug.pipelines.cli import main


@pytest.fixture
def mono(tmp_path):
    path = tmp_path / "mono.en"
    lines = ["the cat sat on the mat .", "a house in Berlin is big .", "", "we need more data ."] * 3
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_backtranslate_then_filter(mono, tmp_path, tiny_seq2seq):
    out = str(tmp_path / "out")
    code = main(["run", "chain", "--input", mono, "--input-format", "text", "--src-lang", "en",
                 "--tgt-lang", "de", "--output", out, "--output-format", "jsonl", "--export", "records",
                 "--step", f"backtranslate --translate-model {tiny_seq2seq} --num-beams 2 --max-new-tokens 8 --n 2",
                 "--step", "filter --skip langid,length_ratio --dedup exact"])
    assert code == 0
    report = json.load(open(os.path.join(out, "report.json")))
    names = [s["name"] for s in report["stages"]]
    assert names == ["read", "backtranslate", "filter", "dedup"]
    bt = report["stages"][1]
    assert bt["in"] == 9 and bt["created"] == bt["out"] + bt["rejected"] - 9
    assert report["identity_ok"] and report["rejected_by_reason"]["empty_text"] == 3
    # Repeated input lines give repeated pairs: dedup catches them corpus-wide.
    assert report["rejected_by_stage"]["dedup"].get("duplicate", 0) > 0
    rows = [json.loads(l) for f in os.listdir(os.path.join(out, "data"))
            for l in open(os.path.join(out, "data", f))]
    assert len(rows) == report["kept"]
    assert all(r["origin"][0]["stage"] == "backtranslate" and r["tgt_text"] is not None for r in rows)


def test_chain_step_errors_are_one_line(mono, tmp_path, capsys):
    code = main(["run", "chain", "--input", mono, "--output", str(tmp_path / "o"),
                 "--step", "filter --no-such-flag"])
    assert code == 2 and "--step filter: unknown option(s) --no-such-flag" in capsys.readouterr().err
    code = main(["run", "chain", "--input", mono, "--output", str(tmp_path / "o"), "--step", "translate"])
    assert code == 2 and "unknown step" in capsys.readouterr().err


def test_python_api_runs_a_command(tmp_path):
    from xlaug.pipelines.api import run
    src = tmp_path / "p.tsv"
    src.write_text("a small house .\tein kleines Haus .\nthe same\tdas gleiche\nthe same\tdas gleiche\n",
                   encoding="utf-8")
    report = run("filter", input=str(src), src_lang="en", tgt_lang="de", output=str(tmp_path / "o"),
                 skip="langid", dedup="exact")
    assert report["read"] == 3 and report["kept"] == 2
    assert report["rejected_by_reason"] == {"duplicate": 1}
