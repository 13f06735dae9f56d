"""Bad input as a new user meets it: every case ends in a rejected record with
file:line and reason, or in one line and a non-zero exit; never a traceback,
never a half-written output folder."""
import json
import os
import pickle
import re
import subprocess
import sys

import pytest

from xlaug.pipelines.cli import main
from xlaug.transforms.readers import InputError, InputSpec, check_input, read_any
from xlaug.transforms.record import Record, Rejected

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD = "Berlin\tB-LOC\nis\tO\nbig\tO\n\n"
GOOD2 = "Rome\tB-LOC\nis\tO\nold\tO\n\n"
BAD_CONLL = {
    "stray_inside": ("Paris\tI-LOC\nis\tO\nnice\tO\n\n", "invalid_bio", 1, "I-LOC at token 1 starts the sentence"),
    "no_tag": ("Paris\tB-LOC\nis\n\n", "bad_columns", 2, "expected token<TAB>tag"),
    "pos_tags": ("The\tDET\ncat\tNOUN\n\n", "invalid_bio", 1, "--tag-scheme any"),
}


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out


def _rejected(out_dir):
    rows = []
    for name in sorted(os.listdir(os.path.join(out_dir, "rejected"))):
        with open(os.path.join(out_dir, "rejected", name), encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


# -- CoNLL with bad sentences -----------------------------------------------------

@pytest.mark.parametrize("case", sorted(BAD_CONLL))
def test_bad_conll_sentence_is_a_rejected_record(tmp_path, capsys, case):
    text, reason, line, detail = BAD_CONLL[case]
    path = _write(tmp_path / "in.conll", GOOD + text + GOOD2)
    out = str(tmp_path / "out")
    code, _ = _run(["run", "filter", "--input", path, "--src-lang", "en", "--output", out,
                    "--min-langid", "0"], capsys)
    assert code == 0
    (rej,) = _rejected(out)
    assert (rej["stage"], rej["reason"], rej["loc"]) == ("read", reason, f"{path}:{4 + line}")
    assert detail in rej["detail"]


def test_bad_conll_on_a_model_stage(tmp_path, capsys, tiny_encoder):
    """The same through run align, whose stage runs a model: the mechanism is the reader's."""
    src = _write(tmp_path / "en.conll", GOOD + BAD_CONLL["stray_inside"][0] + GOOD2)
    tgt = _write(tmp_path / "de.conll", GOOD + GOOD2 + GOOD2)
    out = str(tmp_path / "out")
    code, _ = _run(["run", "align", "--input", src, "--target", tgt, "--src-lang", "en", "--tgt-lang", "de",
                    "--align-model", tiny_encoder, "--layer", "2", "--output", out], capsys)
    assert code == 0
    assert [(r["reason"], r["loc"]) for r in _rejected(out)] == [("invalid_bio", f"{src}:5")]


def test_rejected_fields_are_plain_str():
    """A str subclass in a Rejected (once: the BIO problem) broke Beam's coder on decoding."""
    class Detail(str):
        def __new__(cls, text, index):
            obj = super().__new__(cls, text)
            obj.index = index
            return obj

    rej = Rejected("read", "invalid_bio", Detail("tag 'X' at token 2", 1), loc=Detail("f:3", 0))
    assert type(rej.detail) is str and type(rej.loc) is str
    assert pickle.loads(pickle.dumps(rej)) == rej
    from apache_beam.coders import FastPrimitivesCoder
    coder = FastPrimitivesCoder()
    assert coder.decode(coder.encode(rej)) == rej


# -- text hygiene -------------------------------------------------------------------

@pytest.mark.parametrize("fmt,name,data,field,want", [
    ("text", "a.txt", "\ufeffhello world\nsecond\n", "src_text", "hello world"),
    ("tsv", "a.tsv", "\ufeffhello\tHallo\n", "src_text", "hello"),
    ("conll", "a.conll", "\ufeffParis\tB-LOC\n\n", "src_tokens", ("Paris",)),
    ("jsonl", "a.jsonl", "\ufeff" + Record(id="r1", src_text="hi").to_json() + "\n", "id", "r1"),
])
def test_utf8_bom_is_dropped(tmp_path, fmt, name, data, field, want):
    path = _write(tmp_path / name, data)
    first = next(read_any(InputSpec(fmt, path)))
    assert isinstance(first, Record) and getattr(first, field) == want


def test_bom_of_the_target_file_too(tmp_path):
    a = _write(tmp_path / "a.en", "\ufeffhello\n")
    b = _write(tmp_path / "b.de", "\ufeffHallo\n")
    (rec,) = read_any(InputSpec("parallel", a, target=b))
    assert (rec.src_text, rec.tgt_text) == ("hello", "Hallo")


@pytest.mark.parametrize("fmt,name,data,line", [
    ("text", "a.txt", b"one\ntw\x00o\nthree\n", 2),
    ("tsv", "a.tsv", b"a\tb\nc\x00\td\ne\tf\n", 2),
    ("conll", "a.conll", b"x\tO\n\ny\x00\tO\nz\tO\n\nw\tO\n", 3),
])
def test_line_with_nul_bytes_is_rejected(tmp_path, fmt, name, data, line):
    path = _write(tmp_path / name, data)
    items = list(read_any(InputSpec(fmt, path)))
    rej = [i for i in items if isinstance(i, Rejected)]
    assert [(r.reason, r.loc) for r in rej] == [("nul_bytes", f"{path}:{line}")]
    assert "\x00" not in rej[0].raw and "\\x00" in rej[0].raw  # shown, not carried
    assert len(items) - len(rej) == 2


@pytest.mark.parametrize("data,message", [
    (bytes(range(256)) * 64, "looks like binary data (NUL bytes), not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x10" * 300, "looks like binary data"),
    ("hello\tHallo\nsecond\tzweite\n".encode("utf-16"), "is UTF-16 text; xlaug reads UTF-8"),
    ("hello\tHallo\n".encode("utf-16-le"), "looks like binary data (NUL bytes)"),
    ("Grüße\tgrüße\nÄrger\tärger\nok\tok\n".encode("latin-1"), "is not UTF-8 text (another encoding?"),
])
def test_clearly_binary_file_stops_the_run_in_one_line(tmp_path, capsys, data, message):
    path = _write(tmp_path / "in.tsv", data)
    with pytest.raises(InputError, match=re.escape(message)):
        check_input(InputSpec("tsv", path))
    out = tmp_path / "out"
    code, res = _run(["run", "filter", "--input", path, "--src-lang", "en", "--tgt-lang", "de",
                      "--output", str(out)], capsys)
    assert code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_few_bad_lines_are_not_a_binary_file(tmp_path):
    lines = [b"line %d\tZeile %d" % (i, i) for i in range(20)]
    lines[5] = b"bad \xff\tbyte"
    lines[9] = b"nul \x00\there"
    path = _write(tmp_path / "in.tsv", b"\n".join(lines) + b"\n")
    check_input(InputSpec("tsv", path))
    reasons = sorted(i.reason for i in read_any(InputSpec("tsv", path)) if isinstance(i, Rejected))
    assert reasons == ["bad_utf8", "nul_bytes"]


# -- paths ----------------------------------------------------------------------------

def test_directory_as_input_is_one_line(tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    out = tmp_path / "out"
    code, res = _run(["run", "filter", "--input", str(folder), "--src-lang", "en", "--output", str(out)], capsys)
    assert code == 2 and len(res.err.strip().splitlines()) == 1
    assert f"{folder}: a folder with no saved dataset" in res.err
    assert not out.exists()


def test_output_below_a_file_is_one_line(tmp_path, capsys):
    corpus = _write(tmp_path / "in.tsv", "hello\tHallo\n")
    blocker = _write(tmp_path / "somefile", "x")
    code, res = _run(["run", "filter", "--input", corpus, "--src-lang", "en", "--tgt-lang", "de",
                      "--output", os.path.join(blocker, "deeper", "out")], capsys)
    assert code == 2 and len(res.err.strip().splitlines()) == 1
    assert f"{blocker} is a file" in res.err


# -- runs that fail or keep nothing ----------------------------------------------------

def _parse(argv):
    from tests.test_pipeline import parse
    return parse(argv)


def _boom():
    """A stage that fails on one record, after others went through."""
    from xlaug.transforms.stage import Step

    class Boom(Step):
        name = "boom"

        def process(self, record):
            if record.id.endswith(":7"):
                raise RuntimeError("boom on purpose")
            yield record
    return Boom()


@pytest.mark.parametrize("existing", ["none", "empty", "previous_run"])
def test_failed_run_leaves_no_half_written_folder(tmp_path, existing):
    from xlaug.pipelines import common
    corpus = _write(tmp_path / "in.tsv", "".join(f"line {i}\tZeile {i}\n" for i in range(1, 20)))
    out = tmp_path / "out"
    argv = ["--input", corpus, "--output", str(out)]
    if existing == "empty":
        out.mkdir()
    elif existing == "previous_run":
        common.run_pipeline(_parse(argv), [], command="test")
        assert (out / "report.json").exists()
        argv.append("--overwrite")
    with pytest.raises(Exception, match="boom on purpose"):
        common.run_pipeline(_parse(argv), [_boom()], command="test")
    if existing == "none":
        assert not out.exists()
    else:
        assert out.is_dir() and os.listdir(out) == []


def test_run_that_keeps_nothing_says_so_and_fails(tmp_path, capsys):
    path = _write(tmp_path / "in.conll", "The\tDET\ncat\tNOUN\n\nA\tDET\ndog\tNOUN\n\n")
    out = tmp_path / "out"
    code, res = _run(["run", "filter", "--input", path, "--src-lang", "en", "--output", str(out)], capsys)
    assert code == 2
    assert "nothing kept: all 2 records were rejected, so no dataset was written" in res.err
    assert "dataset:" not in res.out and "rejected       2  invalid_bio" in res.out
    # What explains it stays; nothing that looks like a loadable dataset does.
    assert len(_rejected(str(out))) == 2 and (out / "report.json").exists()
    assert not (out / "data").exists() and not (out / "README.md").exists()


# -- noise ---------------------------------------------------------------------------

NOISE = ("apitools", "LOAD REPORT", "MISSING", "Consider training", "Token indices sequence length",
         "Loading weights", "Traceback")


def test_small_run_prints_no_library_noise(tmp_path, tmp_path_factory):
    """A fresh process (import-time messages count), an encoder saved without a
    pooler (like multilingual-e5) and a line longer than the encoder takes."""
    from tests.tiny_models import build_encoder
    enc = build_encoder(str(tmp_path_factory.mktemp("no_pooler")), pooler=False)
    long = " ".join(["the cat sat ."] * 60)
    corpus = _write(tmp_path / "in.tsv", f"the cat sat .\tdie Katze sass .\n{long}\t{long}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "xlaug", "run", "align", "--input", corpus, "--src-lang", "en",
                          "--tgt-lang", "de", "--align-model", enc, "--layer", "2",
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "too_long" in res.stdout  # the long line was there, and handled
    assert [n for n in NOISE if n in res.stderr] == [], res.stderr


def test_real_load_problems_still_warn(tmp_path, tiny_encoder, caplog):
    """Weights really missing from a checkpoint are still reported (in one line)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    from xlaug.transforms.quiet import load_pretrained
    broken = tmp_path / "broken"
    shutil.copytree(tiny_encoder, broken)
    weights = load_file(str(broken / "model.safetensors"))
    kept = {k: v for k, v in weights.items() if not k.startswith("encoder.layer.1.")}
    save_file(kept, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level("WARNING"):
        model = load_pretrained(AutoModel, str(broken), unread=("pooler.",))
    assert isinstance(model, torch.nn.Module)
    (msg,) = [r.getMessage() for r in caplog.records if r.name == "xlaug.transforms.quiet"]
    assert "weight(s) not loaded from the checkpoint" in msg and "encoder.layer.1." in msg
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_pretrained(AutoModel, tiny_encoder, unread=("pooler.",))
    assert not [r for r in caplog.records if r.name == "xlaug.transforms.quiet"]


def test_worker_start_up_noise_dropped_real_worker_warnings_kept(caplog):
    """The multi-process runner relays each worker's log through one logger:
    the expected start-up lines go, anything else a worker says stays."""
    import logging

    from xlaug.transforms.quiet import drop_known_noise
    drop_known_noise()
    log = logging.getLogger("apache_beam.runners.portability.local_job_service")
    with caplog.at_level("WARNING"):
        log.warning("Worker: %s", 'message: "No semi_persistent_directory found: ..."')
        log.warning("Worker: %s", "message: \"Discarding unparseable args: ['--pipeline_type_check']\"")
        log.warning("Worker: %s", 'message: "out of memory"')
    assert [r.getMessage() for r in caplog.records] == ['Worker: message: "out of memory"']


def test_multiprocess_run_prints_no_worker_noise(tmp_path):
    corpus = _write(tmp_path / "in.tsv", "Hello world .\tHallo Welt .\nA cat .\tEine Katze .\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-m", "xlaug", "run", "filter", "--input", corpus,
                          "--output", str(tmp_path / "out"), "--runner", "multiprocess"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "read 2, kept 2" in res.stdout
    assert "semi_persistent" not in res.stderr and "unparseable" not in res.stderr, res.stderr
