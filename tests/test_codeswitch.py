"""Property tests of ALM code-switching over many seeded random pairs."""
import random
from collections import Counter

import pytest

from xlaug.transforms.codeswitch import CodeSwitchStep, extract_phrase_pairs
from xlaug.transforms import bio
from xlaug.transforms.mixing import cmi, switch_points
from xlaug.transforms.record import Record, Rejected

TYPES = ["PER", "LOC", "ORG"]


def random_pair(rng: random.Random, idx: int, labels: bool = True) -> Record:
    """A pair built from aligned 'chunks' (1-3 src tokens <-> 0-3 tgt tokens),
    locally reordered on the tgt side; some chunks are entities labelled the
    same type on both sides.  Token strings are unique, so every output token
    can be traced back."""
    src, tgt, s_lab, t_lab, links = [], [], [], [], []
    chunks = []
    for c in range(rng.randint(3, 12)):
        a, b = rng.randint(1, 3), rng.choice([0, 1, 1, 2, 3])
        ent = rng.choice(TYPES) if b and rng.random() < 0.25 else None
        chunks.append((a, b, ent))
    order = list(range(len(chunks)))
    for k in range(len(order) - 1):  # local reordering
        if rng.random() < 0.3:
            order[k], order[k + 1] = order[k + 1], order[k]
    src_pos = {}
    for c, (a, b, ent) in enumerate(chunks):
        src_pos[c] = list(range(len(src), len(src) + a))
        for k in range(a):
            src.append(f"s{idx}_{len(src)}")
            s_lab.append("O" if ent is None else ("B-" if k == 0 else "I-") + ent)
    for c in order:
        a, b, ent = chunks[c]
        tpos = list(range(len(tgt), len(tgt) + b))
        for k in range(b):
            tgt.append(f"t{idx}_{len(tgt)}")
            t_lab.append("O" if ent is None else ("B-" if k == 0 else "I-") + ent)
        if b:
            for i in src_pos[c]:
                for j in tpos:
                    if rng.random() < 0.7 or (i == src_pos[c][0] and j == tpos[0]):
                        links.append((i, j))
    if len(tgt) == 0:
        tgt.append(f"t{idx}_0"); t_lab.append("O"); links.append((0, 0))
    return Record(id=f"p{idx}", src_lang="en", tgt_lang="de", src_tokens=tuple(src),
                  tgt_tokens=tuple(tgt), src_labels=tuple(s_lab) if labels else None,
                  tgt_labels=tuple(t_lab) if labels else None, alignment=tuple(sorted(links)))


def pairs(n, seed=1, labels=True):
    rng = random.Random(seed)
    return [random_pair(rng, i, labels) for i in range(n)]


def kept(items):
    return [x for x in items if isinstance(x, Record)]


# -- phrase pairs ------------------------------------------------------------

def brute_force_pairs(n_src, n_tgt, links, max_len):
    """Every box with at least one link, no link leaving it, aligned boundaries."""
    links = set(links)
    out = set()
    for s0 in range(n_src):
        for s1 in range(s0 + 1, min(n_src, s0 + max_len) + 1):
            for t0 in range(n_tgt):
                for t1 in range(t0 + 1, min(n_tgt, t0 + max_len) + 1):
                    inside = [(i, j) for i, j in links if s0 <= i < s1 and t0 <= j < t1]
                    leaving = [(i, j) for i, j in links if (s0 <= i < s1) != (t0 <= j < t1)]
                    if not inside or leaving:
                        continue
                    tight = all(any(l[0] == s for l in inside) for s in (s0, s1 - 1)) and \
                        all(any(l[1] == t for l in inside) for t in (t0, t1 - 1))
                    out.add((s0, s1, t0, t1, tight))
    return out


def test_phrase_pairs_match_brute_force_consistency():
    rng = random.Random(7)
    for _ in range(150):
        n, m = rng.randint(1, 8), rng.randint(1, 8)
        links = {(rng.randrange(n), rng.randrange(m)) for _ in range(rng.randint(1, 10))}
        max_len = rng.randint(1, 4)
        brute = brute_force_pairs(n, m, links, max_len)
        tight = {b[:4] for b in brute if b[4]}
        assert {tuple(p) for p in extract_phrase_pairs(n, m, links, max_len)} == tight
        assert {tuple(p) for p in extract_phrase_pairs(n, m, links, max_len, extend_unaligned=True)} \
            == {b[:4] for b in brute}


def test_phrase_pairs_small_example():
    # the(0) house(1) is(2) small(3)  <->  das(0) Haus(1) ist(2) klein(3); crossing 2-3, 3-2
    links = [(0, 0), (1, 1), (2, 3), (3, 2)]
    got = set(extract_phrase_pairs(4, 4, links, max_len=2))
    assert (2, 3, 2, 3) not in got          # 'is'<->'ist' would leave the box
    assert (2, 4, 2, 4) in got and (0, 2, 0, 2) in got
    assert (2, 3, 3, 4) in got


# -- generated sentences -------------------------------------------------------

def test_tokens_come_only_from_their_pair_with_right_language():
    for matrix in ("src", "tgt"):
        step = CodeSwitchStep(alpha=0.4, max_swaps=5, samples=3, matrix=matrix, seed=3)
        for rec in pairs(150):
            for out in kept(step.run([rec])):
                assert out.id.startswith(rec.id + "-cs")
                for tok, lang in zip(out.tgt_tokens, out.token_langs):
                    if tok in rec.src_tokens:
                        assert lang == "en"
                    else:
                        assert tok in rec.tgt_tokens and lang == "de"
                # every matrix token not swapped out keeps its order
                m_tok = rec.src_tokens if matrix == "src" else rec.tgt_tokens
                kept_m = [t for t in out.tgt_tokens if t in set(m_tok)]
                assert kept_m == sorted(kept_m, key=m_tok.index)
                assert out.tgt_lang == ("en-de" if matrix == "src" else "de-en")
                assert out.src_tokens == rec.src_tokens


@pytest.mark.parametrize("alpha", [0.2, 0.35, 0.5])
def test_realised_alpha_close_to_asked_on_average(alpha):
    step = CodeSwitchStep(alpha=alpha, max_phrase_len=3, max_swaps=12, samples=2, seed=11)
    outs = kept(step.run(pairs(300, seed=5)))
    assert len(outs) > 400
    realised = [o.scores["alpha"] for o in outs]
    for o in outs:
        n_emb = sum(1 for l in o.token_langs if l == "de")
        assert o.scores["alpha"] == pytest.approx(n_emb / len(o.tgt_tokens))
    assert abs(sum(realised) / len(realised) - alpha) < 0.05


def test_max_swaps_and_phrase_len_respected():
    step = CodeSwitchStep(alpha=0.9, max_phrase_len=2, max_swaps=2, samples=2, seed=0)
    for rec in pairs(100):
        for out in kept(step.run([rec])):
            assert out.origin[-1]["params"]["swaps"] <= 2
            # runs of embedded tokens: at most 2 swaps of at most 2 tokens each
            assert sum(1 for l in out.token_langs if l == "de") <= 4


def test_labels_stay_on_their_tokens_and_entities_whole():
    for matrix in ("src", "tgt"):
        step = CodeSwitchStep(alpha=0.5, max_swaps=8, samples=3, matrix=matrix, seed=2)
        for rec in pairs(200, seed=9):
            label_of = dict(zip(rec.src_tokens, rec.src_labels))
            label_of.update(zip(rec.tgt_tokens, rec.tgt_labels))
            outs = kept(step.run([rec]))
            for out in outs:
                assert out.tgt_labels is not None
                assert bio.problem(out.tgt_labels) is None  # valid BIO, no stray I-
                for tok, lab in zip(out.tgt_tokens, out.tgt_labels):
                    want = label_of[tok]
                    assert lab[2:] == want[2:] and (lab == "O") == (want == "O")
                present = set(out.tgt_tokens)
                for side_toks, side_labs in ((rec.src_tokens, rec.src_labels),
                                             (rec.tgt_tokens, rec.tgt_labels)):
                    for s, e, _ in bio.spans(side_labs):
                        ent = side_toks[s:e]
                        inside = [t in present for t in ent]
                        assert all(inside) or not any(inside)
                        if all(inside):
                            pos = out.tgt_tokens.index(ent[0])
                            assert out.tgt_tokens[pos:pos + len(ent)] == ent
                # the output keeps exactly as many entities as the matrix had
                m_labs = rec.src_labels if matrix == "src" else rec.tgt_labels
                assert len(bio.spans(out.tgt_labels)) == len(bio.spans(m_labs))


def test_entity_phrases_not_swapped_without_embedded_labels():
    step = CodeSwitchStep(alpha=0.6, max_swaps=8, samples=2, seed=4)
    for rec in pairs(100, seed=3):
        rec = rec.replace(tgt_labels=None)
        for out in kept(step.run([rec])):
            for tok, lang, lab in zip(out.tgt_tokens, out.token_langs, out.tgt_labels):
                if lang == "de":
                    assert lab == "O"
            assert Counter(t for _, _, t in bio.spans(out.tgt_labels)) == \
                Counter(t for _, _, t in bio.spans(rec.src_labels))


def test_same_seed_same_output_different_seed_differs():
    recs = pairs(80, seed=4)
    a = [o.to_json() for o in CodeSwitchStep(alpha=0.3, samples=2, seed=1).run(recs) if isinstance(o, Record)]
    b = [o.to_json() for o in CodeSwitchStep(alpha=0.3, samples=2, seed=1).run(reversed(recs)) if isinstance(o, Record)]
    c = [o.to_json() for o in CodeSwitchStep(alpha=0.3, samples=2, seed=2).run(recs) if isinstance(o, Record)]
    assert sorted(a) == sorted(b)  # order of input does not matter
    assert sorted(a) != sorted(c)


def test_samples_distinct_and_stop_when_exhausted():
    step = CodeSwitchStep(alpha=0.3, max_swaps=4, samples=5, seed=0)
    many = 0
    for rec in pairs(100, seed=12):
        outs = kept(step.run([rec]))
        toks = [o.tgt_tokens for o in outs]
        assert len(set(toks)) == len(toks) and rec.src_tokens not in toks
        assert [o.id for o in outs] == [f"{rec.id}-cs{k}" for k in range(len(outs))]
        many += len(outs) == 5
    assert many > 50
    # one possible swap only: one sample, however many are asked
    rec = Record(id="x", src_lang="en", tgt_lang="de", src_tokens=("the", "house"),
                 tgt_tokens=("das", "Haus"), alignment=((1, 1),))
    outs = kept(CodeSwitchStep(alpha=0.5, samples=5).run([rec]))
    assert [o.tgt_tokens for o in outs] == [("the", "Haus")]
    assert outs[0].token_langs == ("en", "de") and outs[0].alignment == ((0, 0), (1, 1))


def test_rejections_have_reasons():
    step = CodeSwitchStep()
    cases = {
        "no_alignment": Record(id="a", src_text="a b", tgt_text="c d"),
        "not_parallel": Record(id="b", src_text="a b"),
        "bad_alignment": Record(id="c", src_text="a b", tgt_text="c d", alignment=((0, 5),)),
        "no_switch": Record(id="d", src_text="Berlin", tgt_text="Berlin", alignment=((0, 0),)),
        "no_phrase_pairs": Record(id="e", src_text="a b", tgt_text="c d", alignment=((0, 0), (1, 0)),
                                  src_labels=("B-PER", "I-PER"), tgt_labels=("B-LOC", "O")),
    }
    for reason, rec in cases.items():
        out = list(step.run([rec]))
        assert len(out) == 1 and isinstance(out[0], Rejected), reason
        assert out[0].reason == reason and out[0].stage == "codeswitch" and out[0].detail
    with pytest.raises(ValueError, match="alpha"):
        CodeSwitchStep(alpha=1.5)


def test_cmi_and_switch_points():
    toks = ["I", "like", "das", "Haus", ",", "very", "much", "2"]
    langs = ["en", "en", "de", "de", "en", "en", "en", "en"]
    assert cmi(toks, langs) == pytest.approx(100 * (1 - 4 / 6))   # u = 2 (',' and '2')
    assert switch_points(toks, langs) == 2                          # I-like|das-Haus|very
    assert cmi(["a", "b"], ["en", "en"]) == 0.0 and cmi([",", "1"], ["en", "de"]) == 0.0
    step = CodeSwitchStep(alpha=0.4, samples=1, seed=0)
    for out in kept(step.run(pairs(50))):
        assert out.scores["cmi"] == pytest.approx(cmi(out.tgt_tokens, out.token_langs))
        assert out.scores["switch_points"] == switch_points(out.tgt_tokens, out.token_langs) >= 1


def test_output_alignment_links_tokens_to_their_source():
    step = CodeSwitchStep(alpha=0.4, samples=2, seed=0)
    for rec in pairs(60):
        orig = set(rec.alignment)
        for out in kept(step.run([rec])):
            for i, pos in out.alignment:
                tok = out.tgt_tokens[pos]
                if tok in rec.src_tokens:
                    assert rec.src_tokens.index(tok) == i
                else:
                    assert (i, rec.tgt_tokens.index(tok)) in orig


def test_beam_kept_plus_rejected_equals_read():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from xlaug.transforms.apply import ApplyStep

    recs = pairs(30) + [Record(id="nolinks", src_text="a b", tgt_text="c d"),
                        Record(id="mono", src_text="a b c")]
    step = CodeSwitchStep(alpha=0.3, samples=1, seed=5)
    expected = [o.to_json() for o in step.run(recs) if isinstance(o, Record)]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(recs) | ApplyStep(CodeSwitchStep(alpha=0.3, samples=1, seed=5))
        n_kept = out.kept | "CK" >> beam.combiners.Count.Globally()
        n_rej = out.rejected | "CR" >> beam.combiners.Count.Globally()
        total = ((n_kept, n_rej) | beam.Flatten() | beam.CombineGlobally(sum))
        assert_that(total, equal_to([len(recs)]), label="total")
        assert_that(out.kept | beam.Map(lambda r: r.to_json()), equal_to(expected), label="same")
        assert_that(out.rejected | beam.Map(lambda r: r.reason),
                    equal_to(["no_alignment", "not_parallel"]), label="reasons")


# -- CLI module and the aligner-first path -------------------------------------------

def parse(argv):
    from xlaug.pipelines.cli import parse_args
    return parse_args(argv + ["--input", "in.tsv", "--output", "out"])[2]


def test_cli_modules_import_light():
    import subprocess
    import sys
    code = ("import sys, xlaug.pipelines.cli, xlaug.pipelines.codeswitch, xlaug.pipelines.dict_induce; "
            "xlaug.pipelines.cli.build_parser(); "
            "heavy = [m for m in ('apache_beam', 'torch', 'transformers', 'simalign') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_build_stages_and_argument_errors(tmp_path, tiny_encoder):
    from xlaug.pipelines import codeswitch
    from xlaug.pipelines.cli import CliError, main
    args = parse(["run", "codeswitch", "--alpha", "0.4", "--samples", "3", "--seed", "9",
                  "--matrix", "tgt"])
    stages = codeswitch.build_stages(args)
    assert [s.name for s in stages] == ["codeswitch"]
    step = stages[0]
    assert (step.alpha, step.samples, step.seed, step.matrix) == (0.4, 3, 9, "tgt")
    args = parse(["run", "codeswitch", "--align-model", tiny_encoder, "--align-layer", "2"])  # loaded on workers
    assert [s.name for s in codeswitch.build_stages(args)] == ["align", "codeswitch"]
    lex = tmp_path / "en-de.tsv"
    lex.write_text("house\tHaus\n", encoding="utf-8")
    args = parse(["run", "codeswitch", "--mode", "lexicon", "--lexicon", str(lex), "--prob", "0.7",
                  "--exclude-tags", "DET,ADP"])
    (stage,) = codeswitch.build_stages(args)
    assert stage.name == "lexicon_replace" and stage.exclude_tags == {"DET", "ADP"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("house\tHaus\noops\n", encoding="utf-8")
    for argv, msg in ((["--alpha", "1.2"], "--alpha"), (["--mode", "lexicon"], "--lexicon"),
                      (["--align-model", str(tmp_path)], "no config.json"),
                      (["--mode", "lexicon", "--lexicon", str(bad)], f"{bad}:2:")):
        with pytest.raises(CliError, match=msg):
            codeswitch.build_stages(parse(["run", "codeswitch"] + argv))


def test_pairs_without_links_are_aligned_first(tiny_encoder):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.apply import ApplyStep

    recs = [Record(id="a", src_lang="en", tgt_lang="de", src_text="the cat sat on the mat .",
                   tgt_text="die Katze sass auf der Matte ."),
            Record(id="b", src_lang="en", tgt_lang="de", src_text="a house in Berlin",
                   tgt_text="ein Haus in Berlin", alignment=((0, 0), (1, 1), (2, 2), (3, 3))),
            Record(id="c", src_text="only one side")]
    aligned = list(AlignStep(tiny_encoder, layer=2, threads=1, only_missing=True).run(recs))
    assert aligned[0].alignment and aligned[0].origin[-1]["stage"] == "align"
    assert aligned[1] == recs[1]   # had links: untouched
    assert isinstance(aligned[2], Rejected) and aligned[2].reason == "no_tokens"  # not a pair

    def ids(pc):
        return pc | beam.Map(lambda r: r.id)

    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out1 = p | beam.Create(recs) | ApplyStep(AlignStep(tiny_encoder, layer=2, only_missing=True))
        out2 = out1.kept | ApplyStep(CodeSwitchStep(alpha=0.3, seed=1))
        n = ((out1.rejected, out2.kept, out2.rejected) | beam.Flatten()
             | beam.combiners.Count.Globally())
        assert_that(n, equal_to([3]), label="count")
        assert_that(out1.rejected | beam.Map(lambda r: (r.record.id, r.reason)),
                    equal_to([("c", "no_tokens")]), label="rej")
        assert_that(ids(out2.kept), equal_to(["a-cs0", "b-cs0"]), label="kept")


@pytest.mark.slow
def test_same_output_on_direct_multiprocess_and_portable_runners(tmp_path):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from tests.test_lexicon import rec, small_lexicon
    from xlaug.transforms.lexicon_replace import LexiconReplaceStep
    from xlaug.transforms.apply import ApplyStep

    def run(opts, name):
        out = str(tmp_path / name)
        with beam.Pipeline(options=PipelineOptions(opts)) as p:
            a = p | "A" >> beam.Create(pairs(40, seed=2)) | "CS" >> ApplyStep(
                CodeSwitchStep(alpha=0.3, samples=3, seed=4))
            b = p | "B" >> beam.Create([rec("the big house is new in New York", i=i) for i in range(20)]) \
                | "LX" >> ApplyStep(LexiconReplaceStep(small_lexicon(), prob=0.5, samples=2, seed=4))
            ((a.kept, b.kept) | beam.Flatten() | beam.Map(lambda r: r.to_json())
             | beam.io.WriteToText(out, shard_name_template=""))
        return sorted(open(out, encoding="utf-8").read().splitlines())

    direct = run(["--runner=DirectRunner"], "direct")
    assert len(direct) > 100
    assert run(["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                "--direct_num_workers=2"], "multi") == direct
    assert run(["--runner=PortableRunner", "--job_endpoint=embed",
                "--environment_type=LOOPBACK"], "portable") == direct


@pytest.mark.slow
def test_real_encoder_europarl_pairs_switch_with_entities_whole(real_encoder, shared_data):
    import os

    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.readers import InputSpec, read_strict

    base = os.path.join(shared_data, "ner-europarl")
    spec = InputSpec("conll", os.path.join(base, "en.conll"), target=os.path.join(base, "de.conll"),
                     src_lang="en", tgt_lang="de", fix_bio=True, limit=12)
    recs = [r.replace(id=str(k)) for k, r in enumerate(read_strict(spec))]
    aligned = list(AlignStep(real_encoder, layer=8, threads=2).run(recs))
    assert all(r.alignment for r in aligned)
    outs = kept(CodeSwitchStep(alpha=0.3, samples=2, seed=0).run(aligned))
    assert len(outs) >= 12
    for o, in_rec in ((o, aligned[int(o.id.split("-")[0])]) for o in outs):
        assert bio.problem(o.tgt_labels) is None  # valid BIO, no stray I-
        assert Counter(t for *_, t in bio.spans(o.tgt_labels)) == \
            Counter(t for *_, t in bio.spans(in_rec.src_labels))


def test_align_step_routes_aligner_errors_to_rejected():
    from xlaug.transforms.align import Alignment, AlignStep

    class TooLong:  # an aligner that refuses pairs over 3 words, as a long_input="reject" one would
        layer, method = 2, "argmax"

        def align(self, pairs, layer=None):
            return [Alignment((), (), "too_long", "over 3 words") if len(s) > 3 else
                    Alignment(tuple((i, i) for i in range(min(len(s), len(t)))), (1.0,) * min(len(s), len(t)))
                    for s, t in pairs]

    step = AlignStep("unused")
    out = list(step.process_batch([Record(id="a", src_text="a b", tgt_text="c d"),
                                   Record(id="b", src_text="a b c d e", tgt_text="c d")], None, TooLong()))
    assert out[0].alignment == ((0, 0), (1, 1)) and out[0].scores["align_coverage"] == 1.0
    assert isinstance(out[1], Rejected) and out[1].reason == "too_long" and "over 3 words" in out[1].detail
