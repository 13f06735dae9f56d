"""Words of spaced text (transforms/segment.py): marks that belong to a word
stay on it, so text joined from tokens splits back into those tokens.

The bug this guards: German ordinals ("am 17. Dezember") were split into
"17 ." whenever a target arrived as text (``run project`` tokenizes it), so
the projected German NER of the bundled example had other tokens than the
German gold in 5 of its sentences.
"""
import os

import pytest

from xlaug.transforms.readers import InputSpec, read_strict
from xlaug.transforms.segment import segment_words

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("text, words", [
    # an ordinal goes on with a word: its stop stays; a sentence-final number's does not
    ("am Freitag , dem 17. Dezember unterbrochene", ["am", "Freitag", ",", "dem", "17.", "Dezember",
                                                   "unterbrochene"]),
    ("in seinen Punkten 16 und 17 .", ["in", "seinen", "Punkten", "16", "und", "17", "."]),
    ("It ends in 2000.", ["It", "ends", "in", "2000", "."]),
    # abbreviations: before a lowercase word or a number, chains of initials
    ("bzw. die Verordnung Nr. 17 / 62", ["bzw.", "die", "Verordnung", "Nr.", "17", "/", "62"]),
    ("das ist , d. h. , klar", ["das", "ist", ",", "d.", "h.", ",", "klar"]),
    ("Don't stop, e.g. here!", ["Don't", "stop", ",", "e.g.", "here", "!"]),
    # numbers with a decimal comma or thousands separator are one word
    ("5,5 Prozent , 1,000 people , 3.5 m", ["5,5", "Prozent", ",", "1,000", "people", ",", "3.5", "m"]),
    ("one, two", ["one", ",", "two"]),
    # truncated compounds and negative numbers keep their hyphen; a dash alone is a mark
    ("Struktur- und -fonds bei -40 Grad", ["Struktur-", "und", "-fonds", "bei", "-40", "Grad"]),
    ("a - b , 10-20", ["a", "-", "b", ",", "10-20"]),
    # an English clitic written apart keeps its apostrophe; quotes do not stick
    ("the Commission 's view", ["the", "Commission", "'s", "view"]),
    ("said 'hello' there", ["said", "'", "hello", "'", "there"]),
])
def test_marks_that_belong_to_a_word_stay_on_it(text, words):
    assert list(segment_words(text)) == words


@pytest.mark.parametrize("name", ["europarl-ner.de.conll", "europarl-ner.en.conll"])
def test_bundled_sentences_split_back_into_their_tokens(name):
    """Every sentence of the bundled NER samples, joined with spaces (as
    examples/europarl-ner.de.txt is), splits back into its gold tokens."""
    records = list(read_strict(InputSpec("conll", os.path.join(ROOT, "examples", name), fix_bio=True)))
    assert len(records) == 100
    wrong = [r.src_tokens for r in records if segment_words(" ".join(r.src_tokens)) != r.src_tokens]
    assert wrong == []


def test_projection_target_text_keeps_the_gold_tokens(tiny_encoder):
    """``run project`` with the bundled German text as target: the projected
    German sentences have the German gold's tokens (17. Dezember included)."""
    from xlaug.pipelines.api import parse
    from xlaug.pipelines.project import build_stages
    from xlaug.transforms.record import Record

    ex = os.path.join(ROOT, "examples")
    en = list(read_strict(InputSpec("conll", os.path.join(ex, "europarl-ner.en.conll"),
                                    target=os.path.join(ex, "europarl-ner.de.txt"), fix_bio=True, limit=12)))
    de = list(read_strict(InputSpec("conll", os.path.join(ex, "europarl-ner.de.conll"), fix_bio=True, limit=12)))
    assert "17." in de[1].src_tokens and en[1].tgt_tokens is None  # the target came as text
    align, project = build_stages(parse("project", input="-", output="-", align_model=tiny_encoder,
                                        align_layer=2, align_long_input="window", on_missing="drop"))
    aligned = [r for r in align.run(en) if isinstance(r, Record)]
    assert len(aligned) == 12
    gold = {r.id: d.src_tokens for r, d in zip(en, de)}  # sentence k of one file is sentence k of the other
    for r in aligned:
        assert r.tgt_tokens == gold[r.id]
    projected = [r for r in project.run(aligned) if isinstance(r, Record)]
    assert projected and all(r.tgt_tokens == gold[r.id] for r in projected)
