"""Local Hugging Face datasets as input: ``save_to_disk`` folders, Parquet
files, and the Parquet folders this tool writes.

Rows map to records by column name: the record's own fields (what xlaug
writes), or the common shapes of hub datasets: ``translation: {lang: text}``,
``tokens`` + ``ner_tags``/``pos_tags`` (ClassLabel ids turned into names),
``text``/``sentence``.  ``InputSpec.fields`` overrides the column names.
"""
from __future__ import annotations

import glob
import json
import os
from typing import Iterator

from xlaug.transforms.readers import STAGE, InputError, InputSpec, bio_detail, checked_bio
from xlaug.transforms.record import FIELD_KINDS, Record, RecordError, Rejected

TEXT_COLUMNS = ("text", "sentence", "src_text")
TOKEN_COLUMNS = ("tokens", "words", "src_tokens")
LABEL_COLUMNS = ("ner_tags", "tags", "labels", "pos_tags", "upos", "src_labels")


def dataset_files(path: str) -> list[str] | None:
    """None for a ``save_to_disk`` folder, else the Parquet files to read.
    Raises InputError (cheaply, before any work) when ``path`` holds neither."""
    if os.path.isdir(path) and (os.path.exists(os.path.join(path, "dataset_info.json"))
                                or os.path.exists(os.path.join(path, "dataset_dict.json"))):
        return None
    files = [path] if os.path.isfile(path) else sorted(
        glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    # Our own output keeps rejected records apart: never read them as data.
    files = [f for f in files if f"{os.sep}rejected{os.sep}" not in f]
    if not files:
        raise InputError(f"{path}: a folder with no saved dataset (save_to_disk) or Parquet files in it; "
                         f"--input takes a corpus file or such a folder")
    return files


def _open(path: str):
    import datasets

    files = dataset_files(path)
    if files is None:
        ds = datasets.load_from_disk(path)
    else:
        ds = datasets.load_dataset("parquet", data_files=files, split="train")
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise InputError(f"{path}: dataset has splits {list(ds)}; no 'train' split")
        ds = ds["train"]
    return ds


def _label_names(ds, column):
    import datasets
    feat = ds.features.get(column)
    inner = getattr(feat, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return inner.names
    return None


def _row_mapper(ds, spec: InputSpec):
    cols = set(ds.column_names)
    f = spec.fields
    if {"id"} <= cols and cols & {"src_text", "src_tokens"} and not f:
        return _own_row
    if "translation" in cols and not f:
        def from_translation(row, n):
            tr = row["translation"] or {}
            if spec.src_lang not in tr or spec.tgt_lang not in tr:
                raise RecordError(f"translation has languages {sorted(tr)}; expected "
                                  f"{spec.src_lang} and {spec.tgt_lang} (--src-lang/--tgt-lang)")
            return dict(src_text=tr[spec.src_lang], tgt_text=tr[spec.tgt_lang])
        return from_translation
    tok_col = f.get("tokens") or next((c for c in TOKEN_COLUMNS if c in cols), None)
    lab_col = f.get("labels") or next((c for c in LABEL_COLUMNS if c in cols), None)
    text_col = f.get("text") or next((c for c in TEXT_COLUMNS if c in cols), None)
    tgt_col = f.get("target")
    if tok_col:
        names = _label_names(ds, lab_col) if lab_col else None

        def from_tokens(row, n):
            out = dict(src_tokens=row[tok_col])
            if lab_col:
                labels = row[lab_col]
                out["src_labels"] = [names[i] for i in labels] if names else [str(x) for x in labels]
            return out
        return from_tokens
    if text_col:
        return lambda row, n: dict(src_text=row[text_col], **({"tgt_text": row[tgt_col]} if tgt_col else {}))
    raise InputError(f"{spec.path}: cannot tell which columns hold the text; columns are "
                     f"{sorted(cols)}. Expected xlaug records, 'translation', 'tokens'(+'ner_tags') or 'text'.")


def _own_row(row, n):
    out = {k: v for k, v in row.items() if k in FIELD_KINDS and k not in ("scores", "origin")}
    scores = {k: v for k, v in (row.get("scores") or {}).items() if v is not None}
    if row.get("scores_extra"):
        scores.update(json.loads(row["scores_extra"]))
    out["scores"] = scores
    out["origin"] = [dict(step, params=json.loads(step.get("params") or "{}"))
                     for step in (row.get("origin") or [])]
    out["alignment"] = [tuple(l) for l in out["alignment"]] if out.get("alignment") else out.get("alignment")
    return out


def read_hf(spec: InputSpec) -> Iterator[Record | Rejected]:
    ds = _open(spec.path)
    mapper = _row_mapper(ds, spec)
    name = os.path.basename(os.path.normpath(spec.path))
    for n, row in enumerate(ds, 1):
        loc = f"{spec.path}:row {n}"
        try:
            fields = mapper(row, n)
            fields.setdefault("id", str(row.get("id") or f"{name}:{n}"))
            fields.setdefault("loc", loc)
            for side, lang in (("src", spec.src_lang), ("tgt", spec.tgt_lang)):
                if not fields.get(f"{side}_lang"):
                    fields[f"{side}_lang"] = lang
            rec = Record.from_dict({k: v for k, v in fields.items() if v is not None})
        except (RecordError, KeyError, TypeError, ValueError, IndexError) as e:
            yield Rejected(STAGE, "bad_record", str(e), loc=loc, raw=json.dumps(row, default=str)[:2000])
            continue
        if not (rec.text("src") or "").strip():
            yield Rejected(STAGE, "empty_text", "source side is empty", record=rec, loc=loc)
            continue
        if spec.tag_scheme == "bio" and rec.src_labels is not None:
            labels, bad = checked_bio(rec.src_labels, spec.fix_bio)
            if bad:
                yield Rejected(STAGE, "invalid_bio", bio_detail(labels, bad), record=rec, loc=loc)
                continue
            rec = rec.replace(src_labels=labels)
        yield rec
