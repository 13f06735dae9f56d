"""bench/downstream end to end with a tiny encoder and a tiny budget, so the
bench's code path (split, xlaug projection and code-switching, feature
cache, training, span F1) cannot rot.  The tiny model's scores mean nothing:
the test checks the structure, never the figures."""
import importlib.machinery
import importlib.util
import json
import os
import re

from tests.tiny_models import CORPUS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAGS = {"Berlin": "B-LOC", "Paris": "B-LOC", "Angela": "B-PER", "Merkel": "I-PER", "European": "B-ORG",
        "Europaeische": "B-ORG", "Parliament": "I-ORG", "Parlament": "I-ORG", "Commission": "B-ORG",
        "Kommission": "B-ORG", "Council": "B-ORG", "Rat": "B-ORG"}


def _bench():
    loader = importlib.machinery.SourceFileLoader("bench_downstream", os.path.join(ROOT, "bench", "downstream"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _write_pairs(folder):
    """Sentence-parallel en.conll/de.conll: the tiny corpus's en-de pairs,
    each twice with a number, so the split has pairs to hold out."""
    en = [CORPUS[k] for k in (0, 2, 4, 6, 8, 14)]
    de = [CORPUS[k] for k in (1, 3, 5, 7, 9, 15)]
    for name, sents in (("en", en), ("de", de)):
        with open(os.path.join(folder, f"{name}.conll"), "w", encoding="utf-8") as f:
            for n in range(2):
                for s in sents:
                    words = s.split()
                    words.insert(-1, str(n + 1))
                    f.write("".join(f"{w}\t{TAGS.get(w, 'O')}\n" for w in words) + "\n")


def test_bench_runs_end_to_end_on_a_tiny_encoder(tmp_path, tiny_encoder, capsys):
    _write_pairs(str(tmp_path))
    saved = tmp_path / "sets"
    means = _bench().main([tiny_encoder, "--data", str(tmp_path), "--test", "3", "--seeds", "0,1",
                           "--steps", "2", "--batch", "2", "--train-layers", "1", "--threads", "1",
                           "--align-layer", "2", "--device", "cpu", "--save-data", str(saved)])
    out = capsys.readouterr().out.strip().splitlines()
    assert set(means) == {"zero_shot", "projected", "codeswitch"}
    assert all(0.0 <= f <= 1.0 for f in means.values())
    assert out[-1] == (f"zero_shot_f1={means['zero_shot']:.3f} projected_f1={means['projected']:.3f} "
                       f"codeswitch_f1={means['codeswitch']:.3f}")
    assert sum(bool(re.match(r"\s+\w+ +seed \d+: span", line)) for line in out) == 6  # 3 conditions x 2 seeds
    rows = {n: [json.loads(line) for line in open(saved / f"{n}.jsonl", encoding="utf-8")]
            for n in ("zero_shot", "projected", "codeswitch")}
    # (a) English gold; (b) adds projected German; (c) adds code-switched sentences
    assert 0 < len(rows["zero_shot"]) < len(rows["projected"]) < len(rows["codeswitch"])
    assert rows["projected"][:len(rows["zero_shot"])] == rows["zero_shot"]
    for r in rows["codeswitch"]:
        assert len(r["tokens"]) == len(r["ner_tags"])


def test_split_holds_out_every_test_sentence_in_both_languages():
    from xlaug.transforms.record import Record
    bench = _bench()
    pairs = [Record(id=str(k), src_tokens=(f"e{k % 7}",), tgt_tokens=(f"d{k % 5}",)) for k in range(40)]
    train, test, dropped = bench.split(pairs, 6, seed=1)
    assert len(test) == 6 and len(train) + len(test) + dropped == 40 and dropped > 0
    held = {t for r in test for t in (r.src_tokens, r.tgt_tokens)}
    assert not any(r.src_tokens in held or r.tgt_tokens in held for r in train)
