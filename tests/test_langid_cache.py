import os

import numpy as np
import pytest

from xlaug.transforms import langid_model
from xlaug.transforms.langid_model import _LangidModel, fold


def test_folded_langid_model_is_cached_and_scores_as_langid(tmp_path, monkeypatch):
    """The first process builds the folded arrays and writes them under
    XLAUG_CACHE; later ones load them, with the same arrays and scores;
    a broken cache file is built again."""
    monkeypatch.setenv("XLAUG_CACHE", str(tmp_path))
    built = _LangidModel()
    files = os.listdir(tmp_path / "langid")
    assert len(files) == 1 and files[0].endswith(".npz")
    calls = []
    monkeypatch.setattr(langid_model, "fold", lambda ident: calls.append(1) or fold(ident))
    loaded = _LangidModel()
    assert calls == []  # from the file, not unpacked again
    reference = fold(built.ident)
    for name in ("nextmove", "table", "emits", "pc"):
        assert np.array_equal(getattr(loaded, name), reference[name])
    assert loaded.classes == [str(c) for c in built.ident.nb_classes]
    assert loaded.nextmove_array == built.ident.tk_nextmove
    text = "the committee will vote on the proposal tomorrow"
    ref = built.ident.nb_classprobs(built.ident.instance2fv(text))
    assert loaded.log_probs(text) == pytest.approx(ref, rel=1e-9, abs=1e-6)
    (tmp_path / "langid" / files[0]).write_bytes(b"not a zip")
    again = _LangidModel()
    assert calls == [1] and np.array_equal(again.table, reference["table"])
