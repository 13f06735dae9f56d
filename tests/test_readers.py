import pytest

from xlaug.transforms.readers import (InputError, InputSpec, check_input, checked_bio, guess_format, read_any)
from xlaug.transforms.record import Record, Rejected


def _split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, Rejected)]


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_tsv_every_bad_line_is_rejected_with_file_line_and_reason(tmp_path):
    path = write(tmp_path, "c.tsv", b"a b\tc d\nno tab here\n\tonly target\nx\ty\tz\n\xff\xfe\tbad\n\ne\tf\n")
    recs, rej = _split(read_any(InputSpec("tsv", path, src_lang="en", tgt_lang="de")))
    assert [r.src_text for r in recs] == ["a b", "e"]
    assert recs[0].id == "c.tsv:1" and recs[0].loc == f"{path}:1" and recs[0].tgt_lang == "de"
    assert {(r.loc.rsplit(":", 1)[1], r.reason) for r in rej} == {
        ("2", "bad_columns"), ("3", "empty_side"), ("4", "bad_columns"), ("5", "bad_utf8"), ("6", "empty_text")}
    assert len(recs) + len(rej) == 7


def test_pipes_separator_is_detected(tmp_path):
    path = write(tmp_path, "p.txt", b"le chat ||| the cat\nla maison ||| the house\n")
    recs, rej = _split(read_any(InputSpec("tsv", path)))
    assert [(r.src_text, r.tgt_text) for r in recs] == [("le chat", "the cat"), ("la maison", "the house")]
    assert guess_format(path, None) == "tsv"


def test_parallel_files_of_different_length(tmp_path):
    a = write(tmp_path, "a.en", b"one\ntwo\nthree\n")
    b = write(tmp_path, "b.de", b"eins\nzwei\n")
    recs, rej = _split(read_any(InputSpec("parallel", a, target=b)))
    assert [(r.src_text, r.tgt_text) for r in recs] == [("one", "eins"), ("two", "zwei")]
    assert len(rej) == 1 and rej[0].reason == "unpaired_line" and rej[0].loc == f"{a}:3"


CONLL_EN = b"-DOCSTART- O\n\nAngela\tNNP\tB-PER\nMerkel\tNNP\tI-PER\nspoke\tVBD\tO\n\nParis\tI-LOC\n\nbad\n\n"
CONLL_DE = b"Angela\tB-PER\nMerkel\tI-PER\nsprach\tO\n\nParis\tB-LOC\n\nschlecht\tO\n\n"


def test_conll_pair_and_invalid_bio(tmp_path):
    en = write(tmp_path, "en.conll", CONLL_EN)
    de = write(tmp_path, "de.conll", CONLL_DE)
    recs, rej = _split(read_any(InputSpec("conll", en, target=de, src_lang="en", tgt_lang="de")))
    assert len(recs) == 1
    assert recs[0].src_tokens == ("Angela", "Merkel", "spoke")
    assert recs[0].src_labels == ("B-PER", "I-PER", "O")
    assert recs[0].tgt_labels == ("B-PER", "I-PER", "O")
    assert sorted(r.reason for r in rej) == ["bad_columns", "invalid_bio"]
    fixed, _ = _split(read_any(InputSpec("conll", en, target=de, fix_bio=True)))
    assert fixed[1].src_labels == ("B-LOC",)


def test_checked_bio():
    assert checked_bio(["B-PER", "I-PER", "O"], False)[1] is None
    assert "follows B-PER" in str(checked_bio(["B-PER", "I-LOC"], False)[1])
    assert checked_bio(["O", "I-LOC", "I-LOC"], True) == (("O", "B-LOC", "I-LOC"), None)
    # --fix-bio repairs stray I- only: a label that is not BIO stays a problem.
    assert "not O, B-TYPE or I-TYPE" in str(checked_bio(["O", "PER"], True)[1])


def test_jsonl_bad_record_is_rejected(tmp_path):
    good = Record(id="r1", src_text="hello").to_json()
    path = write(tmp_path, "r.jsonl", (good + "\n{not json\n" + '{"id": "r2", "zzz": 1}\n').encode())
    recs, rej = _split(read_any(InputSpec("jsonl", path)))
    assert [r.id for r in recs] == ["r1"]
    assert [r.reason for r in rej] == ["bad_record", "bad_record"]
    assert "unknown field" in rej[1].detail


def test_limit(tmp_path):
    path = write(tmp_path, "t.txt", b"a\nb\nc\n")
    assert len(list(read_any(InputSpec("text", path, limit=2)))) == 2


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"\n \n", "only blank")])
def test_unreadable_input_stops_before_work(tmp_path, content, message):
    path = write(tmp_path, "e.txt", content)
    with pytest.raises(InputError, match=message):
        check_input(InputSpec("text", path))
    with pytest.raises(InputError, match="no such file"):
        check_input(InputSpec("text", str(tmp_path / "missing.txt")))


def test_hf_saved_dataset_with_class_labels(tmp_path):
    import datasets
    feats = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                               "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    ds = datasets.Dataset.from_dict({"tokens": [["Ann", "runs"], ["x"]], "ner_tags": [[1, 0], [2]]}, features=feats)
    ds.save_to_disk(str(tmp_path / "ds"))
    recs, rej = _split(read_any(InputSpec("hf", str(tmp_path / "ds"), src_lang="en")))
    assert recs[0].src_tokens == ("Ann", "runs") and recs[0].src_labels == ("B-PER", "O")
    assert recs[0].src_lang == "en"
    assert [r.reason for r in rej] == ["invalid_bio"]


def test_conll_with_plain_text_translation(tmp_path):
    en = write(tmp_path, "en.conll", b"Angela\tB-PER\nMerkel\tI-PER\nspoke\tO\n\nHello\tO\n\n")
    de = write(tmp_path, "de.txt", b"Angela Merkel sprach\n\nextra line\n")
    recs, rej = _split(read_any(InputSpec("conll", en, target=de)))
    assert len(recs) == 1 and recs[0].tgt_text == "Angela Merkel sprach" and recs[0].tgt_tokens is None
    assert recs[0].src_labels == ("B-PER", "I-PER", "O")
    assert sorted(r.reason for r in rej) == ["empty_side", "unpaired_line"]
