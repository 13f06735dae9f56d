"""The on-the-fly models load back through from_pretrained(path) and run."""
import torch


def test_seq2seq_reloads_and_generates(tiny_seq2seq):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_seq2seq)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq).eval()
    batch = tok(["the cat sat on the mat .", "a house"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=6, num_beams=2, num_return_sequences=2)
    assert out.shape[0] == 4
    again = model.generate(**batch, max_new_tokens=6, num_beams=2, num_return_sequences=2)
    assert torch.equal(out, again)


def test_language_codes_are_single_tokens(tiny_nllb, tiny_m2m):
    from transformers import AutoTokenizer
    for path, code in ((tiny_nllb, "deu_Latn"), (tiny_m2m, "__de__")):
        tok = AutoTokenizer.from_pretrained(path)
        assert tok.convert_tokens_to_ids(code) != tok.unk_token_id
        assert tok.tokenize(f"{code} the cat")[0] == code


def test_encoder_keeps_case_and_gives_hidden_states(tiny_encoder):
    from transformers import AutoModel, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    assert tok.tokenize("Angela")[0][0] == "A"  # transformers 5 must not lowercase on reload
    model = AutoModel.from_pretrained(tiny_encoder)
    out = model(**tok(["Angela Merkel"], return_tensors="pt"), output_hidden_states=True)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape[-1] == 32


def test_tagger_has_ner_labels(tiny_tagger):
    from transformers import AutoModelForTokenClassification
    model = AutoModelForTokenClassification.from_pretrained(tiny_tagger)
    assert "B-PER" in model.config.label2id and model.config.num_labels == 9
