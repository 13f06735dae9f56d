import json

import pytest

from xlaug.transforms.record import Record, RecordError, Rejected


def test_json_round_trip_keeps_every_field():
    rec = Record(id="a:1", src_lang="en", tgt_lang="de", src_tokens=("Angela", "Merkel", "spoke"),
                 src_labels=("B-PER", "I-PER", "O"), tgt_text="Angela Merkel sprach",
                 alignment=((0, 0), (1, 1), (2, 2)), link_scores=(0.9, 0.8, 0.7),
                 scores={"langid_src": 0.99}, loc="f.conll:3").with_origin("align", model="m", layer=8)
    back = Record.from_json(rec.to_json())
    assert back == rec
    assert json.loads(rec.to_json())["alignment"] == [[0, 0], [1, 1], [2, 2]]


def test_text_and_tokens_views():
    rec = Record(id="x", src_tokens=("a", "b"), tgt_text="c d e")
    assert rec.text("src") == "a b"
    assert rec.tokens("tgt") == ("c", "d", "e")
    assert rec.is_parallel


def test_with_scores_returns_new_record():
    rec = Record(id="x", src_text="hi")
    rec2 = rec.with_scores(a=1)
    assert rec.scores == {} and rec2.scores == pytest.approx({"a": 1.0})


@pytest.mark.parametrize("data,problem", [
    ({"src_text": "x"}, "'id'"),
    ({"id": "1", "bogus": 1}, "unknown field"),
    ({"id": "1", "src_tokens": "not a list"}, "src_tokens"),
    ({"id": "1", "alignment": [[0, -1]]}, "alignment"),
    ({"id": "1", "scores": {"a": "high"}}, "scores"),
])
def test_schema_check_names_the_field(data, problem):
    with pytest.raises(RecordError, match=problem):
        Record.from_dict(data)


def test_labels_must_match_tokens():
    with pytest.raises(RecordError, match="src_labels has 1 items"):
        Record(id="x", src_tokens=("a", "b"), src_labels=("O",))


def test_rejected_json_keeps_the_record():
    rec = Record(id="x", src_text="hi", loc="f:1")
    data = json.loads(Rejected.of(rec, "filter", "too_short", "1 token").to_json())
    assert data["stage"] == "filter" and data["reason"] == "too_short"
    assert data["loc"] == "f:1" and data["record"]["src_text"] == "hi"


def test_histogram_svg_draws_bars_ticks_and_the_threshold():
    import xml.etree.ElementTree as ET

    from xlaug.transforms.report import histogram_svg
    ns = "{http://www.w3.org/2000/svg}"
    s = {"count": 12, "mean": 0.41, "histogram": {"range": [0.0, 1.0], "counts": [3, 0, 7, 2], "under": 0, "over": 0}}
    root = ET.fromstring(histogram_svg("chrf<&>", s, (">=", 0.5)))
    bars = [e for e in root.iter(f"{ns}rect") if e.find(f"{ns}title") is not None]
    assert [b.find(f"{ns}title").text for b in bars] == ["[0, 0.25): 3", "[0.5, 0.75): 7", "[0.75, 1): 2"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == max(heights) and heights[0] == pytest.approx(heights[1] * 3 / 7, abs=0.01)
    line = root.find(f"{ns}line")
    assert float(line.get("x1")) == pytest.approx(60 + 0.5 * 520)  # the middle of the plot area
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "keep if >= 0.5" in texts and any(t.startswith("chrf<&>: n=12") for t in texts)
    # no threshold: no line
    assert ET.fromstring(histogram_svg("x", s)).find(f"{ns}line") is None
