"""One reading of BIO labels for readers, projection, code-switching and tagging."""
import pickle

import pytest

from xlaug.transforms import bio


def test_spans_from_valid_bio():
    labels = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    assert bio.spans(labels) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC"), (7, 8, "ORG")]
    assert bio.from_spans(bio.spans(labels), len(labels)) == labels
    assert bio.spans([]) == [] and bio.spans(["O", "O"]) == []


def test_stray_inside_label_opens_span_or_raises_when_strict():
    labels = ["O", "I-PER", "I-PER", "B-LOC", "I-ORG"]
    assert bio.spans(labels) == [(1, 3, "PER"), (3, 4, "LOC"), (4, 5, "ORG")]
    with pytest.raises(bio.BioError, match="I-PER at token 2 follows O") as e:
        bio.spans(labels, strict=True)
    assert e.value.index == 1
    with pytest.raises(bio.BioError, match="I-LOC at token 1 starts the sentence"):
        bio.spans(["I-LOC"], strict=True)


@pytest.mark.parametrize("label", ["PER", "NOUN", "B-", "I-", "b-per", "E-LOC", "S-PER", "", "0", "B_PER"])
def test_labels_outside_bio(label):
    assert not bio.is_label(label) and not bio.is_bio(["O", label])
    with pytest.raises(bio.BioError, match=f"tag {label!r} at token 2 is not O, B-TYPE or I-TYPE"):
        bio.spans(["O", label])
    assert bio.problem(["O", label], strict=False).index == 1
    # repair touches stray I- only; what is not BIO stays for the caller to reject.
    assert bio.repair(["O", label]) == (("O", label), 0)


def test_types_may_hold_any_characters():
    labels = ["B-geo-loc", "I-geo-loc", "B-PER_X", "I-PER_X"]
    assert bio.is_bio(labels) and bio.problem(labels) is None
    assert bio.spans(labels) == [(0, 2, "geo-loc"), (2, 4, "PER_X")]


def test_problem_strict_and_lenient():
    assert bio.problem(["B-PER", "I-PER", "O"]) is None
    bad = bio.problem(["B-PER", "I-LOC"])
    assert bad.index == 1 and "follows B-PER" in str(bad)
    assert bio.problem(["B-PER", "I-LOC"], strict=False) is None
    # A problem is plain data: it survives pickling (it travels to Beam workers).
    assert pickle.loads(pickle.dumps(bad)) == bad


def test_repair_counts_and_matches_the_lenient_reading():
    labels = ["I-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"]
    fixed, n = bio.repair(labels)
    assert fixed == ("B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-LOC") and n == 3
    assert bio.problem(fixed) is None
    assert bio.spans(fixed, strict=True) == bio.spans(labels)
    assert bio.repair(fixed) == (fixed, 0)


def test_is_bio_of_a_label_set():
    assert bio.is_bio(["O", "B-PER", "I-PER"]) and bio.is_bio([])
    assert bio.is_bio({"O": 0, "I-X": 1})  # stray I- is still BIO
    assert not bio.is_bio(["DET", "NOUN"])
