"""Trainer-ready exports: the columns a Hugging Face trainer takes as they are.

    ner      id, tokens, ner_tags (ClassLabel), langs (per token)   token classification
    pos      id, tokens, pos_tags (ClassLabel), langs
    mt       id, translation {SRC: ..., TGT: ...}, scores          seq2seq (HF translation form)
    text     id, text, langs (per word)                             masked/causal LM pretraining
    records  xlaug's full record (what --input-format jsonl/hf reads back)

``ExportStep`` is the last stage: it rejects, with a reason, a record that the
export cannot hold (no labels, not a pair, a label outside ``--labels``), so
nothing disappears at write time.  ``export_rows`` turns a kept record into
its row(s).  Label columns are written as label strings; the dataset card
declares them as ``ClassLabel`` with fixed names (``label_names``), and
``datasets.load_dataset`` turns them into ids with the names in the features.
"""
from __future__ import annotations

import json
import os

from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.segment import join_tokens
from xlaug.transforms.stage import Step

EXPORTS = ("ner", "pos", "mt", "text", "records")
TAG_COLUMN = {"ner": "ner_tags", "pos": "pos_tags"}


def label_names(labels, kind: str = "ner") -> list[str]:
    """Fixed label order.  ner: O first, then B-X, I-X for each type X sorted
    (both of a pair even when the data has only one); pos: O first if present,
    then the tags sorted."""
    labels = set(labels)
    if kind == "ner":
        types = sorted({lab[2:] for lab in labels if lab[:2] in ("B-", "I-")})
        other = sorted(lab for lab in labels if lab != "O" and lab[:2] not in ("B-", "I-"))
        return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")] + other
    return (["O"] if "O" in labels else []) + sorted(labels - {"O"})


def read_label_file(path: str) -> list[str]:
    """An existing model's label order: a model folder or its config.json
    (``id2label``), a JSON list, or a text file with one label a line."""
    from xlaug.transforms.errors import UsageError
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            body = f.read()
    except OSError as e:
        raise UsageError(f"--labels {path}: cannot read: {e.strerror or e}") from None
    labels = None
    if body.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(body)
        except ValueError as e:
            raise UsageError(f"--labels {path}: not valid JSON: {e}") from None
        if isinstance(data, dict) and isinstance(data.get("id2label"), dict):
            try:
                labels = [data["id2label"][k] for k in sorted(data["id2label"], key=int)]
            except ValueError:
                raise UsageError(f"--labels {path}: id2label keys must be numbers") from None
        elif isinstance(data, list):
            labels = data
        if labels is None:
            raise UsageError(f"--labels {path}: expected a list of labels or a model config with id2label")
    else:
        labels = [line.strip() for line in body.splitlines() if line.strip()]
    labels = [str(x) for x in labels]
    if not labels:
        raise UsageError(f"--labels {path}: no labels in the file")
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise UsageError(f"--labels {path}: label {dup[0]!r} listed twice")
    return labels


def labelled_side(record: Record) -> str | None:
    """The side a token-classification export takes: the made (tgt) side when
    it has labels (projected, code-switched), else the source."""
    if record.tgt_labels is not None and record.tgt_tokens is not None:
        return "tgt"
    if record.src_labels is not None and record.src_tokens is not None:
        return "src"
    return None


class ExportStep(Step):
    """Keeps the records an export can hold; rejects the others with a reason."""

    name = "export"

    def __init__(self, kind: str, labels: list[str] | None = None):
        if kind not in EXPORTS:
            raise ValueError(f"unknown export {kind!r} (known: {', '.join(EXPORTS)})")
        self.kind = kind
        self.labels = tuple(labels) if labels else None

    def process(self, record: Record):
        if self.kind in TAG_COLUMN:
            side = labelled_side(record)
            if side is None:
                yield Rejected(self.name, "no_labels", f"--export {self.kind} needs tokens with labels",
                               record=record)
                return
            if self.labels is not None:
                allowed = set(self.labels)
                outside = sorted({lab for lab in getattr(record, f"{side}_labels") if lab not in allowed})
                if outside:
                    yield Rejected(self.name, "label_not_in_list",
                                   f"label(s) {', '.join(outside)} not in --labels", record=record)
                    return
        elif self.kind == "mt":
            if not (record.text("src") and record.text("tgt")):
                yield Rejected(self.name, "not_parallel", "--export mt needs both sides", record=record)
                return
        yield record


def _langs(record: Record, side: str, n: int) -> list[str]:
    if side == "tgt" and record.token_langs is not None and len(record.token_langs) == n:
        return list(record.token_langs)
    lang = getattr(record, f"{side}_lang") or ""
    return [lang] * n


def export_rows(record: Record, kind: str, src_lang: str | None, tgt_lang: str | None,
                score_names: frozenset = frozenset()) -> list[dict]:
    """The row(s) of one kept record in export ``kind`` (not 'records')."""
    if kind in TAG_COLUMN:
        side = labelled_side(record)
        tokens = list(getattr(record, f"{side}_tokens"))
        return [{"id": record.id, "tokens": tokens, TAG_COLUMN[kind]: list(getattr(record, f"{side}_labels")),
                 "langs": _langs(record, side, len(tokens))}]
    if kind == "mt":
        src = src_lang or record.src_lang or "src"
        tgt = tgt_lang or record.tgt_lang or "tgt"
        row = {"id": record.id, "translation": {src: record.text("src"), tgt: record.text("tgt")}}
        if score_names:
            row["scores"] = {n: record.scores.get(n) for n in score_names}
        return [row]
    if kind == "text":
        if record.token_langs is not None and record.tgt_tokens is not None:  # code-switched: the mix
            toks = list(record.tgt_tokens)
            return [{"id": record.id, "text": join_tokens(toks), "langs": _langs(record, "tgt", len(toks))}]
        sides = [s for s in ("src", "tgt") if record.text(s)]
        rows = []
        for s in sides:
            text = record.text(s)
            rid = record.id if len(sides) == 1 else f"{record.id}/{s}"
            rows.append({"id": rid, "text": text, "langs": _langs(record, s, len(text.split()))})
        return rows
    raise ValueError(f"export {kind!r} has no rows")


def arrow_schema(kind: str, src_lang: str | None, tgt_lang: str | None, score_names=()):
    import pyarrow as pa
    strings = pa.list_(pa.string())
    if kind in TAG_COLUMN:
        return pa.schema([("id", pa.string()), ("tokens", strings), (TAG_COLUMN[kind], strings),
                          ("langs", strings)])
    if kind == "mt":
        langs = sorted([src_lang or "src", tgt_lang or "tgt"])
        fields = [("id", pa.string()), ("translation", pa.struct([(lang, pa.string()) for lang in langs]))]
        if score_names:
            fields.append(("scores", pa.struct([(n, pa.float64()) for n in sorted(score_names)])))
        return pa.schema(fields)
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("langs", strings)])


def features_yaml(kind: str, names: list[str] | None, src_lang: str | None, tgt_lang: str | None,
                  score_names=()) -> list:
    """The card's ``dataset_info.features`` (datasets' YAML form)."""
    seq = {"list": "string"}
    if kind in TAG_COLUMN:
        labels = {"list": {"class_label": {"names": {str(i): n for i, n in enumerate(names or [])}}}}
        return [{"name": "id", "dtype": "string"}, {"name": "tokens", **seq},
                {"name": TAG_COLUMN[kind], **labels}, {"name": "langs", **seq}]
    if kind == "mt":
        langs = sorted([src_lang or "src", tgt_lang or "tgt"])
        out = [{"name": "id", "dtype": "string"},
               {"name": "translation", "dtype": {"translation": {"languages": langs}}}]
        if score_names:
            out.append({"name": "scores", "struct": [{"name": n, "dtype": "float64"} for n in sorted(score_names)]})
        return out
    return [{"name": "id", "dtype": "string"}, {"name": "text", "dtype": "string"}, {"name": "langs", **seq}]


def _labels_of(record: Record) -> list[str]:
    side = labelled_side(record)
    return list(getattr(record, f"{side}_labels")) if side else []


def collect_labels(pcoll, path: str):
    """Write the sorted set of labels the kept records carry to ``path`` (JSON)."""
    import apache_beam as beam
    from apache_beam.io import WriteToText
    return (pcoll | "Labels" >> beam.FlatMap(lambda r: sorted(set(_labels_of(r))))
            | "Label set" >> beam.combiners.ToSet()
            | "Labels json" >> beam.Map(lambda s: json.dumps(sorted(s)))
            | "Labels write" >> WriteToText(path, num_shards=1, shard_name_template=""))


def CollectLabels(path: str):  # noqa: N802 - used like a transform
    import apache_beam as beam
    return beam.ptransform_fn(lambda pcoll: collect_labels(pcoll, path))()
