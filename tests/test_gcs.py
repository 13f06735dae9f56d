"""gs:// end to end against a real GCS server, offline: the PyPI package
gcp-storage-emulator, in memory on a free 127.0.0.1 port.  Beam's gs://
filesystem talks to it when STORAGE_EMULATOR_HOST is set."""
import gzip
import json
import os

import pytest

from xlaug.pipelines.cli import main

pytest.importorskip("gcp_storage_emulator")
pytest.importorskip("apache_beam.io.gcp.gcsio")

from tests.conftest import GCS_BUCKET as BUCKET

EN = ["the cat sleeps on the warm mat", "a small house stands by the river", "I like green apples a lot",
      "we went home late after the concert", "the train to Berlin was full today",
      "my sister reads a book every week"]
DE = ["die Katze schläft auf der warmen Matte", "ein kleines Haus steht am Fluss", "ich mag grüne Äpfel sehr",
      "wir gingen nach dem Konzert spät nach Hause", "der Zug nach Berlin war heute voll",
      "meine Schwester liest jede Woche ein Buch"]


def pair_lines(n: int) -> list[str]:
    lines = [f"{EN[i % 6]} number {i} .\t{DE[i % 6]} Nummer {i} ." for i in range(n)]
    lines[4] = "a line without a tab"              # rejected on read
    lines[9] = f"{EN[0]} .\t{DE[0]} {DE[1]} {DE[2]} ."  # rejected by the length ratio
    return lines


def download(prefix: str, dest) -> list[str]:
    """Copy every object under ``prefix`` into folder ``dest``; their relative names."""
    from xlaug.transforms import storage
    names = []
    for p in storage.listing(prefix):
        rel = p[len(prefix.rstrip("/")) + 1:]
        os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
        with storage.open_read(p) as f, open(os.path.join(dest, rel), "wb") as out:
            out.write(f.read())
        names.append(rel)
    return sorted(names)


def gz_shards(lines: list[str], k: int) -> list[bytes]:
    step = -(-len(lines) // k)
    return [gzip.compress(("\n".join(lines[i:i + step]) + "\n").encode()) for i in range(0, len(lines), step)]


def rows_of(folder) -> list[dict]:
    import datasets
    ds = datasets.load_dataset(str(folder))
    rows = [r for split in ds.values() for r in split]
    return sorted(rows, key=lambda r: r["id"])


def same_rows(a: list[dict], b: list[dict]) -> None:
    assert [r["id"] for r in a] == [r["id"] for r in b]
    for x, y in zip(a, b):
        for key in x:
            if key in ("scores", "loc"):
                continue
            assert x[key] == y[key], (x["id"], key)
        assert x["scores"] == pytest.approx(y["scores"])


def test_filter_from_gzip_shards_in_a_bucket(gcs, tmp_path):
    shards = gz_shards(pair_lines(30), 3)
    local = tmp_path / "in"
    local.mkdir()
    for k, data in enumerate(shards):
        gcs(f"gs://{BUCKET}/filter/in/pairs-{k}.tsv.gz", data)
        (local / f"pairs-{k}.tsv.gz").write_bytes(data)
    common = ["--src-lang", "en", "--tgt-lang", "de", "--skip", "langid", "--dedup", "exact",
              "--max-ratio", "2", "--splits", "train=0.8,test=0.2"]
    out = f"gs://{BUCKET}/filter/out"
    assert main(["run", "filter", "--input", f"gs://{BUCKET}/filter/in/pairs-*.tsv.gz", "--output", out]
                + common) == 0
    assert main(["run", "filter", "--input", str(local / "pairs-*.tsv.gz"), "--output",
                 str(tmp_path / "local")] + common) == 0

    names = download(out, tmp_path / "copy")
    assert "report.json" in names and "README.md" in names
    assert any(n.startswith("rejected/") for n in names)
    assert any(n.startswith("report/") and n.endswith(".svg") for n in names)
    remote_rows = rows_of(tmp_path / "copy")
    same_rows(remote_rows, rows_of(tmp_path / "local"))
    assert len(remote_rows) == 28 and "pairs-0.tsv:1" in [r["id"] for r in remote_rows]

    report = json.load(open(tmp_path / "copy" / "report.json"))
    assert report["read"] == 30 and report["kept"] == 28 and report["identity_ok"]
    assert report["input"]["path"] == [f"gs://{BUCKET}/filter/in/pairs-{k}.tsv.gz" for k in range(3)]
    rejected = [json.loads(l) for n in names if n.startswith("rejected/")
                for l in open(tmp_path / "copy" / n, encoding="utf-8") if l.strip()]
    assert sorted(r["reason"] for r in rejected) == ["bad_columns", "length_ratio"]


def test_chain_from_a_bucket_with_a_lexicon_there(gcs, tmp_path):
    text = [f"{EN[i % 6]} number {i} ." for i in range(24)]
    for k, data in enumerate(gz_shards(text, 2)):
        gcs(f"gs://{BUCKET}/chain/in/mono-{k}.txt.gz", data)
    gcs(f"gs://{BUCKET}/chain/en-de.tsv", "cat\tKatze\nhouse\tHaus\napples\tÄpfel\ntrain\tZug\n".encode())
    gcs(f"gs://{BUCKET}/chain/run.yaml", "\n".join([
        "input:", f"- gs://{BUCKET}/chain/in/mono-*.txt.gz", "input-format: text",
        "src-lang: en", "tgt-lang: de", f"output: gs://{BUCKET}/chain/out", "output-format: jsonl",
        "export: records",
        "step:", "- filter --skip langid,length_ratio --dedup exact",
        f"- codeswitch --mode lexicon --lexicon gs://{BUCKET}/chain/en-de.tsv --prob 1.0"]).encode())
    assert main(["run", "chain", "--config", f"gs://{BUCKET}/chain/run.yaml"]) == 0
    names = download(f"gs://{BUCKET}/chain/out", tmp_path / "copy")
    report = json.load(open(tmp_path / "copy" / "report.json"))
    assert report["read"] == 24 and report["identity_ok"]
    assert [s["name"] for s in report["stages"]][0] == "read"
    rows = rows_of(tmp_path / "copy")
    assert rows and all(r["id"].startswith(("mono-0.txt:", "mono-1.txt:")) for r in rows)
    assert any("Katze" in (r["tgt_text"] or "") or "Katze" in " ".join(r["tgt_tokens"] or []) for r in rows)
    assert any(n.startswith("rejected/") for n in names)


def error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_remote_paths_fail_in_one_line_before_work(gcs, capsys, tmp_path):
    gcs(f"gs://{BUCKET}/err/pairs.tsv", "\n".join(pair_lines(12)).encode())
    base = ["run", "filter", "--src-lang", "en", "--tgt-lang", "de"]
    assert error_line(capsys, base + ["--input", f"gs://{BUCKET}/err/none-*.tsv", "-o", str(tmp_path / "o")]) \
        == f"xlaug: error: gs://{BUCKET}/err/none-*.tsv: no file matches this pattern"
    assert error_line(capsys, base + ["--input", f"gs://{BUCKET}/err/missing.tsv", "-o", str(tmp_path / "o")]) \
        == f"xlaug: error: gs://{BUCKET}/err/missing.tsv: no such file"
    assert error_line(capsys, base + ["--input", "gs://no-such-bucket/x.tsv", "-o", str(tmp_path / "o")]) \
        == "xlaug: error: gs://no-such-bucket/x.tsv: the bucket gs://no-such-bucket does not exist"
    assert error_line(capsys, base + ["--input", f"gs://{BUCKET}/err/pairs.tsv", "-o", "gs://no-such-bucket/out"]) \
        == "xlaug: error: gs://no-such-bucket/out: the bucket gs://no-such-bucket does not exist"
    assert not os.path.exists(tmp_path / "o")
    # An output that is not empty is refused as a local one is.
    gcs(f"gs://{BUCKET}/err/out/keep.txt", b"x")
    assert error_line(capsys, base + ["--input", f"gs://{BUCKET}/err/pairs.tsv", "-o", f"gs://{BUCKET}/err/out"]) \
        == f"xlaug: error: gs://{BUCKET}/err/out: folder exists and is not empty (pass --overwrite to replace it)"
