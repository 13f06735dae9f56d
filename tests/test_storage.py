"""Inputs by glob, several --input, compressed files; ids stay file + line."""
import bz2
import gzip
import json
import os

import pytest

from xlaug.pipelines.cli import main

LINES = ["the cat sleeps on the mat\tdie Katze schläft auf der Matte",
         "a small house by the river\tein kleines Haus am Fluss",
         "no tab here",
         "we went home late\twir gingen spät nach Hause"]


def run_filter(inputs, out, *extra):
    argv = ["run", "filter", "--src-lang", "en", "--tgt-lang", "de", "--skip", "langid", "--dedup", "exact",
            "--input-format", "tsv", "--output", str(out), "--output-format", "jsonl", *extra]
    for i in inputs:
        argv += ["--input", str(i)]
    return main(argv)


def kept_ids(out):
    rows = [json.loads(l) for f in sorted(os.listdir(out / "data")) for l in open(out / "data" / f) if l.strip()]
    return sorted(r["id"] for r in rows), {r["id"]: r["src_text"] for r in rows}


def test_compressed_inputs_read_by_extension_with_the_plain_ids(tmp_path):
    body = ("\n".join(LINES) + "\n").encode()
    (tmp_path / "a.tsv").write_bytes(body)
    (tmp_path / "b.tsv.gz").write_bytes(gzip.compress(body))
    (tmp_path / "c.tsv.bz2").write_bytes(bz2.compress(body))
    zstd = pytest.importorskip("zstandard")
    (tmp_path / "d.tsv.zst").write_bytes(zstd.ZstdCompressor().compress(body))
    results = {}
    for name in ("a.tsv", "b.tsv.gz", "c.tsv.bz2", "d.tsv.zst"):
        out = tmp_path / f"out-{name}"
        assert run_filter([tmp_path / name], out) == 0
        ids, texts = kept_ids(out)
        results[name] = (ids, sorted(texts.values()))
        report = json.load(open(out / "report.json"))
        assert report["read"] == 4 and report["rejected_by_reason"] == {"bad_columns": 1}
    stem = {n: n.split(".")[0] for n in results}
    for name, (ids, texts) in results.items():
        assert ids == [f"{stem[name]}.tsv:{n}" for n in (1, 2, 4)]
        assert texts == results["a.tsv"][1]


def test_globs_and_repeated_inputs(tmp_path, capsys):
    for k in range(3):
        (tmp_path / f"part-{k}.tsv").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "part-0.tsv").write_text(LINES[0] + "\n", encoding="utf-8")
    out = tmp_path / "o1"
    assert run_filter([tmp_path / "part-*.tsv", tmp_path / "other" / "part-0.tsv"], out, "--dedup", "off") == 0
    ids, _ = kept_ids(out)
    # Two inputs share a name: ids take the path below their common folder.
    assert ids == sorted([f"part-{k}.tsv:{n}" for k in range(3) for n in (1, 2, 4)] + ["other/part-0.tsv:1"])
    report = json.load(open(out / "report.json"))
    assert report["read"] == 13 and report["kept"] == 10 and report["identity_ok"]

    capsys.readouterr()
    assert run_filter([tmp_path / "nothing-*.tsv"], tmp_path / "o2") == 2
    assert capsys.readouterr().err.strip() == f"xlaug: error: {tmp_path}/nothing-*.tsv: no file matches this pattern"
    assert not (tmp_path / "o2").exists()
    (tmp_path / "broken.tsv.gz").write_bytes(b"not gzip at all")
    assert run_filter([tmp_path / "broken.tsv.gz"], tmp_path / "o3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"xlaug: error: {tmp_path}/broken.tsv.gz: cannot be read")


def test_inputs_as_a_yaml_list(tmp_path):
    for k in range(2):
        (tmp_path / f"p{k}.tsv").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input:\n- {tmp_path / 'p0.tsv'}\n- {tmp_path / 'p1.tsv'}\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["run", "filter", "--config", str(cfg), "--src-lang", "en", "--tgt-lang", "de", "--skip", "langid",
                 "--dedup", "off", "--input-format", "tsv", "--output", str(out), "--output-format", "jsonl"]) == 0
    ids, _ = kept_ids(out)
    assert ids == sorted(f"p{k}.tsv:{n}" for k in range(2) for n in (1, 2, 4))
