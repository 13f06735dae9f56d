"""xlaug data gettext: parallel text from .po catalogs, every message accounted for."""
import os
import zipfile

import pytest

from xlaug.pipelines.cli import main
from xlaug.transforms.errors import UsageError
from xlaug.transforms.gettext import extract_pairs, parse_po

DE_PO = r'''# German translation.
msgid ""
msgstr ""
"Language: de\n"
"Content-Type: text/plain; charset=UTF-8\n"

#: forms.py:10
msgid "This field is required."
msgstr "Dieses Feld ist zwingend erforderlich."

#, fuzzy
msgid "Enter a valid email address."
msgstr "Bitte eine gültige E-Mail-Adresse eingeben."

msgid "Ensure this value has at most %(limit)d characters."
msgstr "Bitte höchstens %(limit)d Zeichen eingeben."

msgid "Save"
msgstr "Sichern"

msgid "The file "
"could not be opened."
msgstr "Die Datei konnte "
"nicht geöffnet werden."

msgid "Not translated at all."
msgstr ""

msgid "One item was deleted."
msgid_plural "Many items were deleted."
msgstr[0] "Ein Objekt wurde gelöscht."
msgstr[1] "Viele Objekte wurden gelöscht."

msgid "Click <b>here</b> to continue."
msgstr "Klicken Sie <b>hier</b>, um fortzufahren."

msgctxt "menu"
msgid "Open the recent files."
msgstr "Die letzten Dateien öffnen."
msgid "This field is required."
msgstr "Dieses Feld ist zwingend erforderlich."

msgid "Django REST framework docs"
msgstr "Django REST framework docs"

msgid "First line here.\nSecond line."
msgstr "Erste Zeile hier.\nZweite Zeile."

#~ msgid "An old message is here."
#~ msgstr "Eine alte Nachricht ist hier."
'''


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_parse_keeps_lines_flags_and_continuations(tmp_path):
    msgs = parse_po(DE_PO, "de.po")
    by_id = {}
    for m in msgs:
        by_id.setdefault(m.msgid, m)
    assert by_id["This field is required."].line == 8
    assert by_id["Enter a valid email address."].fuzzy
    assert not by_id["This field is required."].fuzzy
    assert by_id["The file could not be opened."].msgstr == "Die Datei konnte nicht geöffnet werden."
    assert by_id["One item was deleted."].plural
    assert by_id["An old message is here."].obsolete
    assert by_id["Open the recent files."].msgstr == "Die letzten Dateien öffnen."
    assert by_id["First line here.\nSecond line."].msgstr == "Erste Zeile hier.\nZweite Zeile."
    assert len(msgs) == 14   # header + 13 messages (the repeat included)


def test_extract_counts_every_message(tmp_path):
    po = _write(tmp_path / "app" / "locale" / "de" / "LC_MESSAGES" / "django.po", DE_PO)
    got = extract_pairs([str(tmp_path / "app")], ["de"])
    assert [(" ".join(s), " ".join(t)) for s, t in got.pairs] == [
        ("This field is required .", "Dieses Feld ist zwingend erforderlich ."),
        ("The file could not be opened .", "Die Datei konnte nicht geöffnet werden ."),
        ("Open the recent files .", "Die letzten Dateien öffnen ."),
    ]
    assert got.ids == [f"{po}:8", f"{po}:21", f"{po}:38"]
    assert got.skipped == {"header": 1, "obsolete": 1, "fuzzy": 1, "plural": 1, "untranslated": 1,
                           "placeholder": 1, "markup": 1, "too_short": 1, "duplicate": 1, "same_text": 1,
                           "multiline": 1}
    assert got.kept + sum(got.skipped.values()) == got.read == 14


def test_wheel_and_locale_choice(tmp_path):
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("pkg/locale/de/LC_MESSAGES/django.po", DE_PO)
        # a stale header: the folder says which language the catalog holds
        z.writestr("pkg/translations/pl/LC_MESSAGES/messages.po", DE_PO.replace("Language: de", "Language: fr"))
        z.writestr("pkg/locale/zh_Hans/LC_MESSAGES/django.po",
                   'msgid "This field is required."\nmsgstr "这个字段是必填项。"\n')
    de = extract_pairs([str(whl)], ["de"])
    assert de.kept == 3 and de.ids[0] == f"{whl}!pkg/locale/de/LC_MESSAGES/django.po:8"
    zh = extract_pairs([str(whl)], ["zh-Hans"], segmenter="whitespace")
    assert zh.kept == 1 and zh.pairs[0][1] == ("这个字段是必填项", "。")
    assert extract_pairs([str(whl)], ["fr"]).catalogs == []
    assert [c[1] for c in extract_pairs([str(whl)], ["pl"]).catalogs] == ["pl"]


def test_cli_writes_pairs_that_align_fit_reads(tmp_path, capsys):
    _write(tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po", DE_PO)
    out = tmp_path / "gt.en-de"
    assert main(["data", "gettext", "-i", str(tmp_path / "locale"), "--tgt-lang", "de", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "read=14 kept=3 skipped=11" in err and "placeholder 1" in err
    from xlaug.transforms.metrics import read_alignment_pairs
    pairs = read_alignment_pairs(str(out))
    assert pairs[0] == ("This field is required .".split(), "Dieses Feld ist zwingend erforderlich .".split())
    assert len(open(str(out) + ".ids").read().splitlines()) == 3
    assert main(["data", "gettext", "-i", str(tmp_path / "locale"), "--tgt-lang", "de", "-o", str(out)]) == 2
    assert "exists (--overwrite replaces it)" in capsys.readouterr().err
    assert main(["data", "gettext", "-i", str(tmp_path / "locale"), "--tgt-lang", "fr", "-o",
                 str(tmp_path / "fr")]) == 2
    assert "no catalog of locale fr" in capsys.readouterr().err


@pytest.mark.parametrize("text,problem", [
    ('msgid "A"\nmsgstr "B"\nnonsense here\n', ":3: not a PO line"),
    ('msgid "A\nmsgstr "B"\n', ":1: not a quoted PO string"),
    ('"orphan"\n', ":1: a string continuation outside an entry"),
    ('msgid "A"\n\nmsgid "B"\nmsgstr "C"\n', ":1: msgid without msgstr"),
])
def test_bad_catalog_names_file_and_line(tmp_path, text, problem):
    po = _write(tmp_path / "locale" / "de" / "LC_MESSAGES" / "x.po", text)
    with pytest.raises(UsageError) as e:
        extract_pairs([po], ["de"])
    assert str(e.value).startswith(po) and problem in str(e.value)


def test_not_utf8_and_not_a_catalog(tmp_path):
    po = tmp_path / "locale" / "de" / "LC_MESSAGES" / "x.po"
    os.makedirs(po.parent)
    po.write_bytes('msgid "A"\nmsgstr "Größe"\n'.encode("latin-1"))
    with pytest.raises(UsageError, match=r"x\.po:2: not UTF-8"):
        extract_pairs([str(po)], ["de"])
    txt = _write(tmp_path / "notes.txt", "hello")
    with pytest.raises(UsageError, match="expected a .po file"):
        extract_pairs([txt], ["de"])
