"""--export: trainer-ready datasets that load with datasets.load_dataset, label
names in the features; a tiny Trainer run straight from them."""
import json
import os

import pytest

from xlaug.pipelines.cli import main
from xlaug.transforms.export import ExportStep, label_names, read_label_file
from xlaug.transforms.record import Record, Rejected

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EN_CONLL = os.path.join(ROOT, "examples", "europarl-ner.en.conll")
DE_CONLL = os.path.join(ROOT, "examples", "europarl-ner.de.conll")
TSV = os.path.join(ROOT, "examples", "europarl-en-de.tsv")


def load(out):
    import datasets
    return datasets.load_dataset(str(out))


def conll(tmp_path, text, name="in.conll"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_label_order_is_fixed():
    assert label_names({"I-PER", "B-LOC", "O", "B-PER"}) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert label_names({"B-ORG"}) == ["O", "B-ORG", "I-ORG"]  # O is always id 0
    assert label_names({"NOUN", "DET", "ADP"}, "pos") == ["ADP", "DET", "NOUN"]


def test_export_step_rejects_what_it_cannot_hold():
    labelled = Record(id="a", src_lang="en", src_tokens=("Paris", "is"), src_labels=("B-LOC", "O"))
    plain = Record(id="b", src_lang="en", src_text="just text")
    out = list(ExportStep("ner").run([labelled, plain]))
    assert out[0] == labelled and isinstance(out[1], Rejected) and out[1].reason == "no_labels"
    out = list(ExportStep("ner", labels=["O", "B-PER", "I-PER"]).run([labelled]))
    assert out[0].reason == "label_not_in_list" and "B-LOC" in out[0].detail
    out = list(ExportStep("mt").run([plain]))
    assert out[0].reason == "not_parallel"


def test_ner_export_loads_with_class_labels(tmp_path, capsys):
    out = tmp_path / "ner"
    assert main(["run", "filter", "--input", EN_CONLL, "--target", DE_CONLL, "--src-lang", "en",
                 "--tgt-lang", "de", "--output", str(out), "--skip", "langid,length_ratio", "--dedup", "off",
                 "--export", "ner"]) == 0
    assert "labels:   O, B-LOC, I-LOC, B-MISC, I-MISC, B-ORG, I-ORG, B-PER, I-PER" in capsys.readouterr().out
    ds = load(out)["train"]
    assert set(ds.column_names) == {"id", "tokens", "ner_tags", "langs"}
    names = ds.features["ner_tags"].feature.names
    assert names == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    report = json.load(open(out / "report.json"))
    assert len(ds) == report["kept"] and report["export"] == "ner"
    # Parallel CoNLL: the labelled target side (German) is the one exported, label for label.
    from xlaug.transforms.readers import InputSpec, read_any
    gold = {r.id: r for r in read_any(InputSpec("conll", EN_CONLL, target=DE_CONLL, src_lang="en", tgt_lang="de"))
            if isinstance(r, Record)}
    assert any("B-MISC" in gold[row["id"]].tgt_labels for row in ds)
    for row in ds:
        assert row["tokens"] == list(gold[row["id"]].tgt_tokens)
        assert [names[i] for i in row["ner_tags"]] == list(gold[row["id"]].tgt_labels)
        assert row["langs"] == ["de"] * len(row["tokens"])
    assert "'0': O" in (out / "README.md").read_text()


def test_labels_file_imposes_order_and_rejects_others(tmp_path, tiny_tagger):
    src = conll(tmp_path, "Merkel\tB-PER\nspoke\tO\n\nParis\tB-LOC\nwaits\tO\n\nIBM\tB-ORG\nsells\tO\n\n")
    lab = tmp_path / "labels.txt"
    lab.write_text("O\nB-PER\nI-PER\nB-LOC\nI-LOC\n")
    out = tmp_path / "o"
    assert main(["run", "filter", "--input", src, "--src-lang", "en", "--output", str(out), "--skip", "langid",
                 "--min-tokens", "1", "--export", "ner", "--labels", str(lab)]) == 0
    ds = load(out)["train"]
    assert ds.features["ner_tags"].feature.names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert sorted(ds["tokens"]) == [["Merkel", "spoke"], ["Paris", "waits"]]
    rejected = [json.loads(l) for f in os.listdir(out / "rejected") for l in open(out / "rejected" / f)]
    assert [(r["stage"], r["reason"]) for r in rejected] == [("export", "label_not_in_list")]
    assert "B-ORG" in rejected[0]["detail"]
    # a model's own order, from its config.json
    assert read_label_file(tiny_tagger) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                            "B-MISC", "I-MISC"]


def test_labels_need_a_tag_export(tmp_path, capsys):
    lab = tmp_path / "l.txt"
    lab.write_text("O\n")
    assert main(["run", "filter", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de",
                 "--output", str(tmp_path / "o"), "--export", "mt", "--labels", str(lab)]) == 2
    assert "--labels applies to --export ner or pos, not mt" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_mt_export_is_a_translation_dict(tmp_path, fmt):
    out = tmp_path / "mt"
    assert main(["run", "filter", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de", "--limit", "20",
                 "--output", str(out), "--skip", "langid", "--export", "mt", "--output-format", fmt]) == 0
    ds = load(out)["train"]
    assert ds.features["translation"].languages == ["de", "en"]
    first = {l.split("\t")[0]: l.split("\t")[1].rstrip("\n") for l in open(TSV, encoding="utf-8")}
    for row in ds:
        assert first[row["translation"]["en"]] == row["translation"]["de"]


def test_default_exports(tmp_path):
    out = tmp_path / "f"
    assert main(["run", "filter", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de", "--limit", "5",
                 "--output", str(out), "--skip", "langid"]) == 0
    assert "src_text" in load(out)["train"].column_names  # filter: records
    out = tmp_path / "c"
    assert main(["run", "chain", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de", "--limit", "5",
                 "--output", str(out), "--step", "filter --skip langid", "--step", "codeswitch --mode lexicon --lexicon en-de"]) == 0
    ds = load(out)["train"]
    assert set(ds.column_names) == {"id", "text", "langs"}  # chain: its last step's (codeswitch: text)


def test_text_export_of_code_switched_pairs(tmp_path, tiny_encoder):
    out = tmp_path / "cs"
    assert main(["run", "codeswitch", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de", "--limit", "10",
                 "--align-model", tiny_encoder, "--align-layer", "2", "--output", str(out)]) == 0
    ds = load(out)["train"]
    assert set(ds.column_names) == {"id", "text", "langs"}
    assert len(ds) == json.load(open(out / "report.json"))["kept"]
    for row in ds:
        assert len(row["langs"]) == len(row["text"].split()) and set(row["langs"]) <= {"en", "de"}


def test_trainers_take_exports_as_they_are(tmp_path, tiny_tagger, tiny_seq2seq):
    """Token classification and seq2seq fine-tune a few steps from the exported
    folders: no column renamed, id2label from the features."""
    pytest.importorskip("accelerate")  # the Trainer needs it (in the test extra: scripts/setup installs it)
    import numpy as np
    import torch
    from transformers import (AutoModelForSeq2SeqLM, AutoModelForTokenClassification, AutoTokenizer,
                              DataCollatorForSeq2Seq, DataCollatorForTokenClassification, Seq2SeqTrainer,
                              Seq2SeqTrainingArguments, Trainer, TrainingArguments)
    torch.manual_seed(0)
    ner_out, mt_out = tmp_path / "ner", tmp_path / "mt"
    assert main(["run", "filter", "--input", EN_CONLL, "--src-lang", "en", "--output", str(ner_out), "--limit", "40",
                 "--skip", "langid", "--export", "ner"]) == 0
    assert main(["run", "filter", "--input", TSV, "--src-lang", "en", "--tgt-lang", "de", "--limit", "40",
                 "--output", str(mt_out), "--skip", "langid", "--export", "mt"]) == 0

    ner = load(ner_out)["train"]
    names = ner.features["ner_tags"].feature.names
    tok = AutoTokenizer.from_pretrained(tiny_tagger)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_tagger, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)

    def encode(batch):
        enc = tok(batch["tokens"], is_split_into_words=True, truncation=True, max_length=64)
        enc["labels"] = [[-100 if w is None else tags[w] for w in enc.word_ids(i)]
                         for i, tags in enumerate(batch["ner_tags"])]
        return enc

    train = ner.map(encode, batched=True, remove_columns=ner.column_names)
    args = TrainingArguments(str(tmp_path / "tc"), max_steps=4, per_device_train_batch_size=8, report_to=[],
                             save_strategy="no", logging_steps=1, use_cpu=True, learning_rate=1e-2)
    result = Trainer(model=model, args=args, train_dataset=train,
                     data_collator=DataCollatorForTokenClassification(tok)).train()
    assert np.isfinite(result.training_loss) and result.global_step == 4
    assert model.config.id2label[1] == "B-LOC"

    mt = load(mt_out)["train"]
    tok2 = AutoTokenizer.from_pretrained(tiny_seq2seq)
    model2 = AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq)

    def encode_mt(batch):
        src = [t["en"] for t in batch["translation"]]
        tgt = [t["de"] for t in batch["translation"]]
        return tok2(src, text_target=tgt, truncation=True, max_length=64)

    train2 = mt.map(encode_mt, batched=True, remove_columns=mt.column_names)
    args2 = Seq2SeqTrainingArguments(str(tmp_path / "s2s"), max_steps=4, per_device_train_batch_size=8,
                                     report_to=[], save_strategy="no", use_cpu=True, learning_rate=1e-2)
    result2 = Seq2SeqTrainer(model=model2, args=args2, train_dataset=train2,
                             data_collator=DataCollatorForSeq2Seq(tok2, model=model2)).train()
    assert np.isfinite(result2.training_loss) and result2.global_step == 4
