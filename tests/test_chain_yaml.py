"""run chain from YAML: steps as mappings, errors all at once, the command line wins,
and every example config under examples/ runs (with tiny models)."""
import json
import os

import pytest

from xlaug.pipelines.cli import main, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def write(tmp_path, text, name="chain.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


@pytest.fixture
def mono(tmp_path):
    p = tmp_path / "mono.en"
    p.write_text("the cat sat on the mat .\na house in Berlin is big .\nwe need more data .\n", encoding="utf-8")
    return str(p)


def test_steps_yaml_equals_step_strings(tmp_path, mono, tiny_seq2seq):
    cfg = write(tmp_path, f"""
input: {mono}
src-lang: en
tgt-lang: de
output: {tmp_path / 'o'}
steps:
  - backtranslate: {{translate-model: {tiny_seq2seq}, n: 2, num_beams: 2}}
  - filter: {{max-ratio: 2.5, skip: langid}}
  - filter:
""")
    _, _, from_yaml = parse_args(["run", "chain", "--config", cfg])
    _, _, from_cli = parse_args(["run", "chain", "--input", mono, "--src-lang", "en", "--tgt-lang", "de",
                                 "--output", str(tmp_path / "o"),
                                 "--step", f"backtranslate --translate-model {tiny_seq2seq} --n 2 --num-beams 2",
                                 "--step", "filter --max-ratio 2.5 --skip langid", "--step", "filter"])
    assert [(n, vars(ns)) for n, _, ns in from_yaml.parsed_steps] == \
           [(n, vars(ns)) for n, _, ns in from_cli.parsed_steps]
    assert from_yaml.parsed_steps[1][2].max_ratio == 2.5
    assert from_yaml.parsed_steps[2][2].max_ratio != 2.5  # null: the defaults


def test_every_config_error_at_once(tmp_path, mono, capsys):
    cfg = write(tmp_path, f"""
input: {mono}
output: {tmp_path / 'o'}
seed: many
steps:
  - filter: {{max-ratoi: 2.0, min-langid: 3}}
  - backtranslate: {{n: 2, seed: 4}}
  - translate: {{}}
  - codeswitch: {{alpha: 1.5}}
""")
    assert main(["run", "chain", "--config", cfg]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"xlaug: error: {cfg}: --seed: expected an integer, got 'many'",
        f"xlaug: error: {cfg}: step 1 (filter): unknown option 'max-ratoi' (did you mean max-ratio?)",
        f"xlaug: error: {cfg}: step 1 (filter): --min-langid: must be in [0.0, 1.0], got 3.0",
        f"xlaug: error: {cfg}: step 2 (backtranslate): 'seed' is shared by all steps: give it at the top level",
        f"xlaug: error: {cfg}: step 2 (backtranslate): --translate-model is required",
        f"xlaug: error: {cfg}: step 3: unknown step 'translate' (did you mean backtranslate?) (known: filter, backtranslate, align, project, "
        "codeswitch)",
        f"xlaug: error: {cfg}: step 4 (codeswitch): --alpha: must be in (0.0, 1.0), got 1.5",
    ]
    assert not os.path.exists(tmp_path / "o")


def test_model_problems_of_every_step_at_once(tmp_path, mono, capsys, tiny_seq2seq):
    cfg = write(tmp_path, f"""
input: {mono}
src-lang: en
tgt-lang: de
output: {tmp_path / 'o'}
steps:
  - backtranslate: {{translate-model: models/nowhere}}
  - align: {{align-model: {tiny_seq2seq}}}
""")
    assert main(["run", "chain", "--config", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"xlaug: error: {cfg}: step 1 (backtranslate): --translate-model: model 'models/nowhere'")
    assert err[1].startswith(f"xlaug: error: {cfg}: step 2 (align): --align-model: model '{tiny_seq2seq}' is a seq2seq")
    assert not os.path.exists(tmp_path / "o")


def test_command_line_wins(tmp_path, mono, capsys):
    cfg = write(tmp_path, f"""
input: {mono}
src-lang: en
output: {tmp_path / 'from-file'}
steps:
  - filter: {{max-ratio: 2.0, skip: langid}}
""")
    out = tmp_path / "from-cli"
    _, _, o = parse_args(["run", "chain", "--config", cfg, "--output", str(out), "--set", "filter.max-ratio=3",
                          "--set", "1.min-tokens=2"])
    assert o.output == str(out)
    ns = o.parsed_steps[0][2]
    assert (ns.max_ratio, ns.min_tokens, ns.skip) == (3.0, 2, "langid")
    _, _, o = parse_args(["run", "chain", "--config", cfg, "--step", "filter --max-ratio 4"])
    assert [n.max_ratio for _, _, n in o.parsed_steps] == [4.0]  # --step replaces the file's steps
    assert main(["run", "chain", "--config", cfg, "--set", "filter.max-ratio=0.5"]) == 2
    assert f"{cfg}: step 1 (filter): --max-ratio: must be >= 1.0, got 0.5" in capsys.readouterr().err
    assert main(["run", "chain", "--config", cfg, "--set", "dedup.mode=exact"]) == 2
    assert "no step 'dedup'" in capsys.readouterr().err
    assert main(["run", "chain", "--config", cfg, "--output", str(out)]) == 0
    assert os.path.exists(out / "report.json") and not os.path.exists(tmp_path / "from-file")


def test_python_api_takes_steps(tmp_path, mono):
    from xlaug.pipelines.api import run
    report = run("chain", input=mono, src_lang="en", output=str(tmp_path / "o"),
                 steps=[{"filter": {"skip": "langid", "min_tokens": 6}}])
    assert report["read"] == 3 and report["kept"] == 2


def _example_overrides(name, tiny_seq2seq, tiny_encoder, tiny_tagger):
    enc = ["align-model=" + tiny_encoder, "align-layer=2"]
    return {
        # A random model writes no language and no sensible length: those checks would reject by chance.
        "backtranslate.yaml": [f"backtranslate.translate-model={tiny_seq2seq}", "backtranslate.max-new-tokens=8",
                               "filter.skip=langid,length_ratio"],
        "translate-train-ner.yaml": [f"project.translate-model={tiny_seq2seq}", "project.max-new-tokens=8",
                                     "project.on-missing=drop"] + ["project." + s for s in enc],
        "translate-annotate-project.yaml": [f"project.translate-model={tiny_seq2seq}", "project.max-new-tokens=8",
                                            f"project.tagger-model={tiny_tagger}", "project.on-missing=drop"]
                                           + ["project." + s for s in enc],
        "codeswitch.yaml": ["codeswitch." + s for s in enc],
        "example-ner.yaml": ["project." + s for s in enc] + ["filter.skip=langid,length_ratio"],
        "example-codeswitch.yaml": ["codeswitch." + s for s in enc] + ["filter.skip=langid"],
        "all.yaml": [f"project.translate-model={tiny_seq2seq}", "project.max-new-tokens=8",
                     "project.on-missing=drop"] + ["project." + s for s in enc],
    }[name]


EXAMPLE_STAGES = {
    "backtranslate.yaml": ["read", "backtranslate", "filter", "dedup", "export"],
    "translate-train-ner.yaml": ["read", "backtranslate", "align", "project", "filter", "dedup", "export"],
    "translate-annotate-project.yaml": ["read", "backtranslate", "annotate", "align", "project", "export"],
    "codeswitch.yaml": ["read", "align", "codeswitch", "filter", "dedup", "export"],
    "example-ner.yaml": ["read", "align", "project", "filter", "dedup", "export"],
    "example-codeswitch.yaml": ["read", "filter", "dedup", "align", "codeswitch", "export"],
    "all.yaml": ["read", "backtranslate", "align", "project", "codeswitch", "filter", "dedup", "export"],
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_STAGES))
def test_example_configs_run(name, tmp_path, tiny_seq2seq, tiny_encoder, tiny_tagger, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs name examples/... relative to the repository
    out = tmp_path / "out"
    argv = ["run", "chain", "--config", os.path.join(EXAMPLES, name), "--output", str(out), "--limit", "6"]
    for s in _example_overrides(name, tiny_seq2seq, tiny_encoder, tiny_tagger):
        argv += ["--set", s]
    code = main(argv)
    report = json.load(open(out / "report.json"))
    assert [s["name"] for s in report["stages"]] == EXAMPLE_STAGES[name]
    assert report["read"] == 6 and report["identity_ok"] and code == 0
    assert report["stages"][1]["in"] == 6  # every input reached the first stage
    import datasets
    columns = {"mt": ["id", "translation"], "ner": ["id", "tokens", "ner_tags", "langs"],
               "text": ["id", "text", "langs"]}[EXAMPLE_EXPORT[name]]
    assert report["export"] == EXAMPLE_EXPORT[name]
    assert datasets.load_dataset(str(out))["train"].column_names[:len(columns)] == columns


EXAMPLE_EXPORT = {"backtranslate.yaml": "mt", "translate-train-ner.yaml": "ner",
                  "translate-annotate-project.yaml": "ner", "codeswitch.yaml": "text", "all.yaml": "ner",
                  "example-ner.yaml": "ner", "example-codeswitch.yaml": "text"}
