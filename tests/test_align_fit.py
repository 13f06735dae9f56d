"""xlaug align fit: self-training of the aligner's encoder (tiny encoder, offline)."""
from __future__ import annotations

import json
import os

import pytest

from tests.tiny_models import CORPUS

PAIRS = [(CORPUS[k].split(), CORPUS[k + 1].split()) for k in range(0, len(CORPUS), 2)]


def _fit(encoder, out, seed=0, **kw):
    from xlaug.transforms.align_fit import FitConfig, fit
    # the self-training objective alone unless tlm=True (its own tests below)
    cfg = FitConfig(layers=(2,), epochs=kw.pop("epochs", 6), batch_size=4, lr=kw.pop("lr", 1e-3), seed=seed,
                    threads=1, tlm=kw.pop("tlm", False), **kw)
    return fit(encoder, PAIRS * 2, out, cfg)


def test_loss_decreases_and_folder_loads(tiny_encoder, tmp_path):
    from xlaug.transforms.align import WordAligner
    out = str(tmp_path / "fitted")
    r = _fit(tiny_encoder, out)
    assert r.pairs_used == 2 * len(PAIRS) and r.pairs_skipped == 0
    assert r.steps == 6 * 4 and r.pairs_seen == 6 * 2 * len(PAIRS)
    assert r.losses[-1] < r.losses[0]          # the self-training loss goes down
    assert sorted(os.listdir(tmp_path)) == ["fitted"]  # no temporary folder left
    info = json.load(open(os.path.join(out, "xlaug-fit.json")))
    assert info["base_model"] == tiny_encoder and info["layers"] == [2] and info["steps"] == r.steps
    # the new folder is an encoder every aligning command takes
    aligned = WordAligner(out, layer=2, threads=1).align(PAIRS)
    assert all(a.error is None and a.links for a in aligned)


def test_same_seed_same_links_other_seed_changes_them(tiny_encoder, tmp_path):
    from xlaug.transforms.align import WordAligner
    links = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = str(tmp_path / name)
        _fit(tiny_encoder, out, seed=seed)
        links[name] = [a.links for a in WordAligner(out, layer=2, threads=1).align(PAIRS)]
    base = [a.links for a in WordAligner(tiny_encoder, layer=2, threads=1).align(PAIRS)]
    assert links["a"] == links["b"]
    assert links["a"] != base          # fitting changed the alignments
    assert links["c"] != links["a"]    # and the seed (batch order, dropout) matters


def test_existing_output_refused_then_replaced(tiny_encoder, tmp_path):
    out = tmp_path / "fitted"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        _fit(tiny_encoder, str(out), epochs=1)
    assert (out / "keep.txt").exists()
    from xlaug.transforms.align_fit import FitConfig, fit
    fit(tiny_encoder, PAIRS, str(out), FitConfig(layers=(2,), epochs=1, threads=1), force=True)
    assert not (out / "keep.txt").exists() and (out / "config.json").exists()


def test_align_fit_cli(tiny_encoder, tmp_path, capsys):
    from xlaug.pipelines.cli import main
    pairs = tmp_path / "p.txt"
    pairs.write_text("".join(f"{' '.join(s)} ||| {' '.join(t)}\n" for s, t in PAIRS), encoding="utf-8")
    out = str(tmp_path / "enc")
    rc = main(["align", "fit", "--pairs", str(pairs), "--align-model", tiny_encoder, "--output", out,
               "--fit-layers", "2", "--threads", "1", "--max-steps", "2", "--fit-batch-size", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and lines[-1] == os.path.abspath(out)
    assert lines[0].startswith(f"pairs={len(PAIRS)} skipped=0 steps=2 ")
    # refused again without --force; a layer deeper than the model is refused before any work
    assert main(["align", "fit", "--pairs", str(pairs), "--align-model", tiny_encoder, "--output", out,
                 "--fit-layers", "2"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["align", "fit", "--pairs", str(pairs), "--align-model", tiny_encoder, "--output",
                 str(tmp_path / "x"), "--fit-layers", "2,9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--fit-layers" in err
    # every aligning command takes the new folder
    gold = tmp_path / "g.txt"
    gold.write_text("".join("1-1\n" for _ in PAIRS))
    assert main(["eval", "align", "--pairs", str(pairs), "--gold", str(gold), "--align-model", out,
                 "--align-layer", "2", "--align-threads", "1"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("AER=")


def test_tlm_masks_only_words_and_its_loss_trains(tiny_encoder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from xlaug.transforms.align_fit import _encode_pair, _TLMHead, tlm_loss
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    src, tgt = PAIRS[0]
    ids, can = _encode_pair(tok, src, tgt, 128)
    special = set(tok.all_special_ids)
    assert [i not in special for i in ids] == can      # specials are never masked
    assert _encode_pair(tok, src, tgt, 2) is None      # over the length limit
    model = AutoModel.from_pretrained(tiny_encoder)
    head = _TLMHead(model.config.hidden_size, model.get_input_embeddings())
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=1e-2)
    batch = [_encode_pair(tok, s, t, 128) for s, t in PAIRS]
    vocab = model.get_input_embeddings().weight.shape[0]
    losses = []
    for step in range(30):
        gen = torch.Generator().manual_seed(step % 3)
        loss = tlm_loss(model, head, batch, tok.pad_token_id, tok.mask_token_id, vocab, 2, 0.3, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    # nothing maskable: a zero loss, not an error
    assert float(tlm_loss(model, head, [None], tok.pad_token_id, tok.mask_token_id, vocab, 2, 0.3,
                          torch.Generator())) == 0.0


def test_no_tlm_changes_the_fit(tiny_encoder, tmp_path):
    from xlaug.transforms.align import WordAligner
    links = {}
    for name, tlm in (("tlm", True), ("so", False)):
        out = str(tmp_path / name)
        r = _fit(tiny_encoder, out, tlm=tlm, epochs=2)
        assert r.steps == 2 * 4
        links[name] = [a.links for a in WordAligner(out, layer=2, threads=1).align(PAIRS)]
        assert json.load(open(os.path.join(out, "xlaug-fit.json")))["tlm"] is tlm
    assert links["tlm"] != links["so"]
