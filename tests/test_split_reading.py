"""One large line-based file is cut into byte ranges read by many workers;
the records, the rejected lines and their ids (file:line) are the same
whatever the cut."""
import gzip
import json
import os
from dataclasses import replace

import pytest

from xlaug.pipelines.cli import main
from xlaug.transforms.readers import InputSpec, count_newlines, read_any, splits
from xlaug.transforms.record import Record

# Bad lines of every kind, a BOM, CRLF, a long line, no newline at the end.
TSV = (b"\xef\xbb\xbfthe cat sleeps .\tdie Katze schl\xc3\xa4ft .\r\n"
       b"no tab on this line\n"
       b"\n"
       b"a small house .\tein kleines Haus .\n"
       b"\xff\xfe broken\tbytes\n"
       b"nul \x00 byte\tx\n"
       + b"a very long line " * 40 + b"\t" + b"eine sehr lange Zeile " * 40 + b"\n"
       b"\tonly target\n"
       b"we went home .\twir gingen nach Hause .\r\n"
       b"x\ty\tz\n"
       b"I like apples .\tich mag \xc3\x84pfel .")


def items(spec):
    return [(type(i).__name__, i.id if isinstance(i, Record) else i.reason, i.loc,
             i.to_json()) for i in read_any(spec)]


def read_split(spec):
    """What the Beam reader does: count each split's newlines, then read each
    split numbering its lines from the counts before it."""
    parts = splits(spec)
    counts = [(p.start, count_newlines(p)) for p in parts if p.end is not None]
    out = []
    for p in parts:
        if p.end is not None:
            p = replace(p, lines_before=sum(n for start, n in counts if start < p.start))
        out += items(p)
    return parts, out


@pytest.mark.parametrize("fmt,data", [("tsv", TSV), ("text", TSV.replace(b"\t", b" ")),
                                      ("jsonl", b"".join(Record(id=f"r{i}", src_text=f"s {i}").to_json().encode()
                                                         + (b"\n\n" if i % 3 else b"\n{bad json\n")
                                                         for i in range(12)))])
def test_every_split_size_gives_the_whole_files_records(tmp_path, monkeypatch, fmt, data):
    path = tmp_path / f"c.{fmt}"
    path.write_bytes(data)
    spec = InputSpec(fmt, str(path), src_lang="en", tgt_lang="de")
    whole = items(spec)
    assert len(whole) >= 10
    for size in (1, 2, 3, 5, 7, 16, 41, 64, 200, len(data) - 1, len(data), 10 ** 6):
        monkeypatch.setenv("XLAUG_SPLIT_BYTES", str(size))
        parts, got = read_split(spec)
        assert len(parts) == (-(-len(data) // size) if size < len(data) else 1)
        assert got == whole, f"split size {size}"


def test_compressed_paired_and_conll_files_are_read_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("XLAUG_SPLIT_BYTES", "4")
    gz = tmp_path / "c.tsv.gz"
    gz.write_bytes(gzip.compress(TSV))
    (tmp_path / "a.en").write_bytes(b"one\ntwo\n")
    (tmp_path / "b.de").write_bytes(b"eins\nzwei\n")
    (tmp_path / "c.conll").write_bytes(b"Anna\tB-PER\nruns\tO\n\nBob\tB-PER\n")
    for spec in (InputSpec("tsv", str(gz)), InputSpec("parallel", str(tmp_path / "a.en"), target=str(tmp_path / "b.de")),
                 InputSpec("conll", str(tmp_path / "c.conll"))):
        assert splits(spec) == [spec]
    plain = InputSpec("tsv", str(tmp_path / "c.tsv"))
    (tmp_path / "c.tsv").write_bytes(TSV)
    assert len(splits(plain)) > 10
    assert len(splits(replace(plain, limit=3))) == 1  # the first N lines of a file: read in order


def _rows(out):
    found = {}
    for sub in ("data", "rejected"):
        for f in sorted(os.listdir(out / sub)):
            for line in open(out / sub / f, encoding="utf-8"):
                r = json.loads(line)
                key = r.get("id") or (r.get("record") or {}).get("id") or r.get("loc")
                assert key not in found
                found[key] = r
    return found


@pytest.mark.parametrize("runner", [[], ["--runner", "multiprocess", "--workers", "2"]])
def test_the_dataset_is_the_same_whatever_the_split_size(tmp_path, monkeypatch, runner):
    """A run over one file cut into many small splits (and, on two worker
    processes, read by both) writes the same records and rejected lines, with
    the same ids, as a run reading the file whole."""
    src = tmp_path / "pairs.tsv"
    lines = [f"sentence number {i} is here .\tSatz Nummer {i} ist hier ." for i in range(300)]
    lines[17], lines[120], lines[250] = "no tab", "", "a\tb\tc"
    lines[200] = lines[100]  # a duplicate: dedup meets it whatever split read it
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["run", "filter", "--input", str(src), "--src-lang", "en", "--tgt-lang", "de", "--skip", "langid",
            "--output-format", "jsonl"]
    monkeypatch.delenv("XLAUG_SPLIT_BYTES", raising=False)
    assert main(argv + ["--output", str(tmp_path / "whole")]) == 0
    monkeypatch.setenv("XLAUG_SPLIT_BYTES", "100")  # about 150 splits
    assert main(argv + ["--output", str(tmp_path / "split")] + runner) == 0
    whole, split = _rows(tmp_path / "whole"), _rows(tmp_path / "split")
    assert whole == split
    assert "pairs.tsv:300" in whole and whole[f"{src}:18"]["reason"] == "bad_columns"
    assert whole["pairs.tsv:201"]["reason"] == "duplicate"
    report = json.load(open(tmp_path / "split" / "report.json"))
    assert report["read"] == 300 and report["identity_ok"]


def test_splits_of_a_file_in_a_bucket(gcs, monkeypatch):
    """Splits seek into a remote file (Beam's gs:// reader) like a local one."""
    from tests.conftest import GCS_BUCKET
    path = f"gs://{GCS_BUCKET}/split/c.tsv"
    gcs(path, TSV)
    spec = InputSpec("tsv", path, src_lang="en", tgt_lang="de")
    whole = items(spec)
    monkeypatch.setenv("XLAUG_SPLIT_BYTES", "7")
    parts, got = read_split(spec)
    assert len(parts) > 10 and got == whole
    assert [i[1] for i in whole if i[0] == "Record"] == ["c.tsv:1", "c.tsv:4", "c.tsv:7", "c.tsv:9", "c.tsv:11"]
