"""Lexicon loader and dictionary replacement."""
import random
from collections import Counter

import pytest

from xlaug.dictionaries import Lexicon, LexiconError, available, load_lexicon
from xlaug.transforms.lexicon_replace import LexiconReplaceStep, keep_case, load_stopwords
from xlaug.transforms import bio
from xlaug.transforms.record import Record, Rejected


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# -- loader ----------------------------------------------------------------------

def test_formats_tab_space_weight_muse_comments(tmp_path):
    lex = load_lexicon(write(tmp_path, "en-de.tsv",
                             "# a comment\n\nhouse\tHaus\t3\nhouse\tGebäude\t1\n"
                             "European Parliament\tEuropäisches Parlament\ncat Katze\ndog Hund 2.5\n"))
    assert (lex.src_lang, lex.tgt_lang) == ("en", "de") and lex.weighted
    assert lex.lookup(["House"]) == [(("Haus",), 3.0), (("Gebäude",), 1.0)]
    assert lex.lookup(["european", "parliament"]) == [(("Europäisches", "Parlament"), 1.0)]
    assert lex.lookup(["dog"]) == [(("Hund",), 2.5)] and lex.max_len == 2 and len(lex) == 5
    # MUSE files: 'src tgt' per line, no header, repeated sources
    muse = load_lexicon(write(tmp_path, "de-en.0-5000.txt", "\ufeffhaus house\nhaus home\n"),)
    assert [t for t, _ in muse.lookup(["haus"])] == [("house",), ("home",)]
    assert (muse.src_lang, muse.tgt_lang) == ("de", "en") and not muse.weighted
    hdr = load_lexicon(write(tmp_path, "x.tsv", "# langs: kk-ru\nүй\tдом\n"))
    assert (hdr.src_lang, hdr.tgt_lang) == ("kk", "ru")


@pytest.mark.parametrize("text,problem", [
    ("house\tHaus\nbad line with many words\n", ":2: 5 space-separated columns"),
    ("house\tHaus\tx\n", ":1: weight must be a positive number"),
    ("house\tHaus\t-1\n", ":1: weight must be a positive number"),
    ("house\n", ":1: expected 2 or 3 columns"),
    ("a\tb\tc\td\n", ":1: expected 2 or 3 columns"),
    ("\tHaus\n", ":1: empty source entry"),
    ("# only comments\n", ": no entries"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, problem):
    path = write(tmp_path, "bad.tsv", text)
    with pytest.raises(LexiconError) as e:
        load_lexicon(path)
    assert str(e.value).startswith(path) and problem in str(e.value)


def test_unknown_name_lists_shipped():
    with pytest.raises(LexiconError, match="not a shipped lexicon"):
        load_lexicon("xx-yy-nope")


def test_shipped_lexicons_load_and_say_where_they_come_from():
    import os
    from xlaug.dictionaries import DATA_DIR
    names = available()
    assert "en-de" in names and "en-fr" in names
    for name in names:
        lex = load_lexicon(name)
        assert 100 <= len(lex) <= 5000 and lex.weighted
        assert (lex.src_lang, lex.tgt_lang) == tuple(name.split("-"))
        head = open(os.path.join(DATA_DIR, name + ".tsv"), encoding="utf-8").read(3000)
        assert "xlaug dict induce" in head and "licen" in head.lower() and "source" in head.lower()


# -- replacement ------------------------------------------------------------------

def small_lexicon():
    lex = Lexicon(src_lang="en", tgt_lang="de", weighted=True)
    lex.add(("house",), ("Haus",), 9.0)
    lex.add(("house",), ("Gebäude",), 1.0)
    lex.add(("the",), ("das",))
    lex.add(("big",), ("groß",))
    lex.add(("new",), ("neu",))
    lex.add(("new", "york"), ("Neu", "York", "Stadt"))
    lex.add(("european", "parliament"), ("Europäisches", "Parlament"))
    lex.add(("parliament",), ("Parlament",))
    lex.add(("votes",), ("stimmt",))
    return lex


def rec(text, labels=None, i=0):
    toks = tuple(text.split())
    return Record(id=f"r{i}", src_lang="en", src_tokens=toks,
                  src_labels=tuple(labels.split()) if labels else None)


def outs(step, records):
    return [o for o in step.run(records) if isinstance(o, Record)]


def test_case_kept():
    assert keep_case(["House"], ["haus"]) == ["Haus"]
    assert keep_case(["HOUSE"], ["Haus"]) == ["HAUS"]
    assert keep_case(["house"], ["Haus"]) == ["Haus"]        # lexicon spelling kept
    assert keep_case(["New", "York"], ["neu", "york"]) == ["Neu", "york"]
    step = LexiconReplaceStep(small_lexicon(), prob=1.0)
    (o,) = outs(step, [rec("THE BIG house")])
    assert o.tgt_tokens[:2] == ("DAS", "GROSS")


def test_multi_word_longest_first_and_labels_stay_bio():
    step = LexiconReplaceStep(small_lexicon(), prob=1.0)
    (o,) = outs(step, [rec("the European Parliament votes in New York", "O B-ORG I-ORG O O B-LOC I-LOC")])
    assert o.tgt_tokens == ("das", "Europäisches", "Parlament", "stimmt", "in", "Neu", "York", "Stadt")
    assert o.tgt_labels == ("O", "B-ORG", "I-ORG", "O", "O", "B-LOC", "I-LOC", "I-LOC")
    assert o.token_langs == ("de", "de", "de", "de", "en", "de", "de", "de")
    assert o.tgt_lang == "en-de" and o.id == "r0-lx0"
    assert (1, 1) in o.alignment and (2, 2) in o.alignment and (5, 7) in o.alignment
    assert o.scores["alpha"] == pytest.approx(7 / 8) and o.scores["switch_points"] == 2


def test_mixed_label_span_not_replaced_but_parts_may_be():
    step = LexiconReplaceStep(small_lexicon(), prob=1.0)
    # 'European Parliament' spans O + B-ORG here: the entry is skipped, 'parliament' alone is fine
    (o,) = outs(step, [rec("European Parliament", "O B-ORG")])
    assert o.tgt_tokens == ("European", "Parlament") and o.tgt_labels == ("O", "B-ORG")


def test_stopwords_pos_exclusion_and_keep_entities():
    step = LexiconReplaceStep(small_lexicon(), prob=1.0, stopwords="en")
    (o,) = outs(step, [rec("the big house")])
    assert o.tgt_tokens == ("the", "groß", "Haus")
    step = LexiconReplaceStep(small_lexicon(), prob=1.0, exclude_tags={"ADJ", "DET"})
    (o,) = outs(step, [rec("the big house", "DET ADJ NOUN")])
    assert o.tgt_tokens == ("the", "big", "Haus") and o.tgt_labels == ("DET", "ADJ", "NOUN")
    step = LexiconReplaceStep(small_lexicon(), prob=1.0, keep_entities=True)
    (o,) = outs(step, [rec("the European Parliament votes", "O B-ORG I-ORG O")])
    assert o.tgt_tokens == ("das", "European", "Parliament", "stimmt")
    assert load_stopwords("a, B") == {"a", "b"}


def test_probability_weights_and_seed():
    lex = small_lexicon()
    records = [rec("the big house is new", i=i) for i in range(400)]
    step = LexiconReplaceStep(lex, prob=0.5, seed=3)
    got = outs(step, records)
    # a draw that replaces nothing is redrawn, so every sentence comes out and
    # the rate is p conditioned on >= 1 replacement of 4: 0.5 / (1 - 1/16)
    assert len(got) == 400
    replaced = sum(sum(1 for l in o.token_langs if l == "de") for o in got)
    assert abs(replaced / (4 * 400) - 0.5 / (1 - 1 / 16)) < 0.03
    houses = Counter(o.tgt_tokens[2] for o in got if o.token_langs[2] == "de")
    assert houses["Haus"] > 5 * houses["Gebäude"] > 0                 # weights 9:1
    uni = Counter(o.tgt_tokens[2] for o in outs(LexiconReplaceStep(lex, prob=1.0, choice="uniform"),
                                                records) if o.token_langs[2] == "de")
    assert abs(uni["Haus"] - uni["Gebäude"]) < 80
    again = outs(LexiconReplaceStep(lex, prob=0.5, seed=3), records)
    other = outs(LexiconReplaceStep(lex, prob=0.5, seed=4), records)
    assert [o.to_json() for o in again] == [o.to_json() for o in got]
    assert [o.tgt_tokens for o in other] != [o.tgt_tokens for o in got]


def test_random_sentences_labels_travel_and_samples_distinct():
    lex = small_lexicon()
    words = ["the", "big", "house", "new", "york", "parliament", "votes", "in", "a", "city"]
    rng = random.Random(0)
    step = LexiconReplaceStep(lex, prob=0.6, samples=3, seed=1)
    for i in range(200):
        toks = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        labs = list(bio.repair([rng.choice(["O", "O", "B-LOC", "I-LOC", "B-ORG"]) for _ in toks])[0])
        r = rec(" ".join(toks), " ".join(labs), i)
        result = list(step.run([r]))
        got = [o for o in result if isinstance(o, Record)]
        assert got or (len(result) == 1 and result[0].reason == "no_replacement")
        assert len({o.tgt_tokens for o in got}) == len(got) <= 3
        for o in got:
            assert bio.problem(o.tgt_labels) is None  # valid BIO, no stray I-
            assert len(bio.spans(o.tgt_labels)) == len(bio.spans(labs))
            for pos, (tok, lang, lab) in enumerate(zip(o.tgt_tokens, o.token_langs, o.tgt_labels)):
                if lang == "en":  # unchanged words keep their own label
                    (src_i,) = [a for a, b in o.alignment if b == pos]
                    assert tok == toks[src_i] and lab == labs[src_i]
                else:
                    assert any(tok in [w for t, _ in opts for w in t] + [w.capitalize() for t, _ in opts for w in t]
                               for opts in lex.entries.values())


def test_rejections_and_beam_counts():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from xlaug.transforms.apply import ApplyStep

    step = LexiconReplaceStep(small_lexicon(), prob=1.0)
    (r,) = step.run([rec("nothing matches here")])
    assert isinstance(r, Rejected) and r.reason == "no_replacement"
    (r,) = step.run([Record(id="e", src_text="")])
    assert isinstance(r, Rejected) and r.reason == "empty_text"
    records = [rec("the big house", i=0), rec("no match", i=1), rec("new york", i=2)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(records) | ApplyStep(LexiconReplaceStep(small_lexicon(), prob=1.0))
        assert_that(out.kept | beam.Map(lambda o: o.id), equal_to(["r0-lx0", "r2-lx0"]), label="kept")
        assert_that(out.rejected | beam.Map(lambda o: o.reason), equal_to(["no_replacement"]), label="rej")


def test_lexicon_by_path_loaded_in_setup(tmp_path):
    path = write(tmp_path, "en-de.tsv", "house\tHaus\n")
    step = LexiconReplaceStep(path, prob=1.0)
    assert step.lexicon is None
    (o,) = outs(step, [rec("a house")])
    assert o.tgt_tokens == ("a", "Haus") and o.tgt_lang == "en-de"


# -- dict induce -------------------------------------------------------------------

def test_read_pairs_formats_and_errors(tmp_path):
    from xlaug.pipelines.cli import CliError
    from xlaug.dictionaries.induce import read_pairs
    tsv = write(tmp_path, "p.tsv", "the house\tdas Haus\n\na cat\teine Katze\n")
    assert [p[1:] for p in read_pairs(tsv)] == [(["the", "house"], ["das", "Haus"], None),
                                                (["a", "cat"], ["eine", "Katze"], None)]
    pipes = write(tmp_path, "p.txt", "the house ||| das Haus\n")
    assert [p[1:] for p in read_pairs(pipes)] == [(["the", "house"], ["das", "Haus"], None)]
    js = write(tmp_path, "p.jsonl", '{"id": "1", "src_tokens": ["a", "b"], "tgt_tokens": ["c"], '
               '"alignment": [[1, 0]]}\n{"id": "2", "src_text": "x", "tgt_text": "y"}\n')
    assert [p[1:] for p in read_pairs(js)] == [(["a", "b"], ["c"], ((1, 0),)), (["x"], ["y"], None)]
    a = write(tmp_path, "a.conll", "the\tO\nhouse\tO\n\nBerlin\tB-LOC\n")
    b = write(tmp_path, "b.conll", "das\tO\nHaus\tO\n\nBerlin\tB-LOC\n")
    got = list(read_pairs(a, target=b))
    assert [g[1:] for g in got] == [(["the", "house"], ["das", "Haus"], None), (["Berlin"], ["Berlin"], None)]
    assert got[1][0] == f"{a}:4"
    short = write(tmp_path, "c.conll", "das\tO\n")
    bad = write(tmp_path, "bad.tsv", "ok\tgut\nno tab here\n")
    badjs = write(tmp_path, "bad.jsonl", '{"id": "1", "src_text": "a", "tgt_text": "b", "alignment": [[0, 3]]}\n')
    for call, msg in ((lambda: list(read_pairs(bad)), f"{bad}:2: expected"),
                      (lambda: list(read_pairs(a, target=short)), f"{a}:4: {short} has fewer sentences"),
                      (lambda: list(read_pairs(badjs)), f"{badjs}:1: record 1 has a link outside"),
                      (lambda: list(read_pairs(str(tmp_path / "nope.tsv"))), "file not found")):
        with pytest.raises(CliError, match=msg):
            call()


def test_count_and_select_entries():
    from xlaug.dictionaries.induce import count_links, select_entries
    pairs = [(["The", "house", ","], ["Das", "Haus", ","])] * 3 + [(["house", "2"], ["Gebäude", "2"])]
    links = [[(0, 0), (1, 1), (2, 2)]] * 3 + [[(0, 0), (1, 1)]]
    pc, sc, forms = count_links(pairs, links)
    assert pc[("house", "haus")] == 3 and pc[("house", "gebäude")] == 1 and (",", ",") not in pc
    assert sc["house"] == 4
    assert select_entries(pc, sc, 1, 0.0, 5) == [("house", "haus", 3), ("house", "gebäude", 1),
                                                 ("the", "das", 3)]
    assert select_entries(pc, sc, 2, 0.0, 5) == [("house", "haus", 3), ("the", "das", 3)]
    assert select_entries(pc, sc, 1, 0.5, 5) == [("house", "haus", 3), ("the", "das", 3)]
    assert select_entries(pc, sc, 1, 0.0, 1) == [("house", "haus", 3), ("the", "das", 3)]
    # the usual spelling of the target word is written (German nouns keep their capital)
    assert select_entries(pc, sc, 2, 0.0, 5, forms) == [("house", "Haus", 3), ("the", "Das", 3)]


def test_dict_induce_command_end_to_end(tmp_path, tiny_encoder):
    from xlaug.pipelines.cli import main
    pairs = write(tmp_path, "p.tsv", "the cat sat on the mat .\tdie Katze sass auf der Matte .\n" * 3
                  + "a house in Berlin\tein Haus in Berlin\n")
    out = str(tmp_path / "en-de.tsv")
    rc = main(["dict", "induce", "--pairs", pairs, "--align-model", tiny_encoder, "--align-layer", "2",
               "--min-count", "3", "--min-prob", "0", "--src-lang", "en", "--tgt-lang", "de",
               "--note", "source: test", "--align-threads", "1", "--out", out])
    assert rc == 0
    lex = load_lexicon(out)
    assert (lex.src_lang, lex.tgt_lang) == ("en", "de") and lex.weighted
    # only words of the 3x repeated pair reach min-count 3; the weight is the link count
    assert all(k[0] in {"the", "cat", "sat", "on", "mat"} for k in lex.entries)
    assert all(w % 3 == 0 for opts in lex.entries.values() for _, w in opts)
    text = open(out, encoding="utf-8").read()
    assert "# source: test" in text and "# built by: xlaug dict induce --pairs" in text
    assert main(["dict", "induce", "--pairs", pairs, "--align-model", tiny_encoder, "--min-count", "0",
                 "--out", out]) == 2
