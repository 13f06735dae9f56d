"""Options: declared once, one conversion path for the command line, YAML and
the Python API; bad options, languages and models stop a run before any work
with one line (exit status 2) and leave no output folder."""
import os
import re
import shlex

import pytest

from xlaug.pipelines.cli import CliError, command_options, main, parse_args


@pytest.fixture
def pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a small house .\tein kleines Haus .\nthe cat\tdie Katze\n", encoding="utf-8")
    return str(path)


def fails(capsys, argv, out=None) -> str:
    """Run the CLI, expect exit status 2 and one line on stderr; that line's message."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("xlaug: error: "), err
    if out is not None:
        assert not os.path.exists(out), "a failed check left an output folder"
    return lines[0][len("xlaug: error: "):]


# -- unknown, misspelled and badly typed options ---------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--max-ratoi", "1.01"], "unknown option(s) --max-ratoi: neither an xlaug option nor a Beam pipeline "
                              "option (did you mean --max-ratio?)"),
    (["--max-ratio", "abc"], "--max-ratio: expected a number, got 'abc'"),
    (["--max-ratio", "0.5"], "--max-ratio: must be >= 1.0, got 0.5"),
    (["--dedup", "maybe"], "--dedup: expected one of exact, normalized, off; got 'maybe'"),
    (["--shards", "-1"], "--shards: must be >= 0, got -1"),
    (["--max-ratio"], "argument --max-ratio: expected one argument"),
    (["--direct_num_workers", "x"], "Beam pipeline option: argument --direct_num_workers: invalid int value: 'x'"),
    (["--src-lang", "english"], "--src-lang: 'english' is not a language code (use an ISO 639 code such as "
                                "en, de, eng, or a model's own code such as deu_Latn)"),
    (["--src-lang", "en", "--tgt-lang", "en"], "--src-lang en and --tgt-lang en are the same language: "
                                               "give the code of each side"),
    (["--src-lang", "de", "--tgt-lang", "deu_Latn"], "--src-lang de and --tgt-lang deu_Latn are the same "
                                                     "language: give the code of each side"),
])
def test_bad_option_is_one_line_and_no_output(tmp_path, capsys, pairs, extra, message):
    out = str(tmp_path / "out")
    assert fails(capsys, ["run", "filter", "--input", pairs, "--output", out] + extra, out) == message


def test_beam_options_pass_through(pairs, tmp_path):
    _, _, o = parse_args(["run", "filter", "--input", pairs, "--output", str(tmp_path / "o"),
                          "--direct_num_workers", "2", "--job_name=x"])
    assert o.beam_args == ["--direct_num_workers", "2", "--job_name=x"]


def test_eval_and_dict_refuse_unknown_options(capsys, tmp_path):
    assert fails(capsys, ["eval", "align", "--pairs", "p", "--gold", "g", "--align-model", "m",
                          "--alpha", "1"]) == "unknown option(s) --alpha"


def test_options_the_docs_advertise_exist(pairs, tmp_path):
    base = ["--input", pairs, "--output", str(tmp_path / "o")]
    _, _, o = parse_args(["run", "codeswitch"] + base + ["--align-layer", "2", "--align-threads", "1"])
    assert (o.align_layer, o.align_threads) == (2, 1)
    _, _, o = parse_args(["run", "project"] + base + ["--max-new-tokens", "9", "--num-beams", "2"])
    assert (o.max_new_tokens, o.num_beams) == (9, 2)


def test_old_spellings_still_read_with_a_warning(capsys, pairs, tmp_path):
    _, _, o = parse_args(["eval", "align", "--pairs", "p", "--gold", "g", "--model", "m", "--layer", "3"])
    assert (o.align_model, o.align_layer) == ("m", 3)
    err = capsys.readouterr().err
    assert "xlaug: warning: --model is deprecated: use --align-model" in err
    assert "xlaug: warning: --layer is deprecated: use --align-layer" in err
    with pytest.raises(CliError, match="--layer is the old name of --align-layer: give one of them"):
        parse_args(["eval", "align", "--pairs", "p", "--gold", "g", "--model", "m", "--layer", "3",
                    "--align-layer", "4"])


def test_chain_step_errors(capsys, pairs, tmp_path):
    out = str(tmp_path / "o")
    base = ["run", "chain", "--input", pairs, "--output", out]
    assert fails(capsys, base + ["--step", 'filter --max-ratio "2'], out) == \
        "--step 'filter --max-ratio \"2': No closing quotation"
    assert fails(capsys, base + ["--step", "filter --dedup maybe"], out) == \
        "--step filter: --dedup: expected one of exact, normalized, off; got 'maybe'"
    assert fails(capsys, base + ["--step", "filter --max-ratoi 2"], out) == \
        "--step filter: unknown option(s) --max-ratoi (did you mean --max-ratio?)"
    assert fails(capsys, base + ["--step", "project --tag-scheme any"], out) == \
        "--step project: --tag-scheme is shared by all steps: give it before the steps"


# -- one declaration per option, one default per setting ---------------------------------

def test_every_command_declares_each_option_once():
    from xlaug.pipelines.chain import STEP_MODULES
    from xlaug.pipelines.cli import COMMANDS
    from xlaug.pipelines.common import SHARED_OPTIONS
    from xlaug.pipelines.options import by_dest
    import importlib
    for group, command in COMMANDS:
        by_dest(command_options(group, command))  # raises on a name declared twice
    for module in STEP_MODULES.values():  # a step's options never shadow the shared ones
        by_dest(tuple(SHARED_OPTIONS) + tuple(importlib.import_module(module).OPTIONS))


def test_no_argparse_internals_in_the_cli():
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipelines")
    for name in os.listdir(root):
        if name.endswith(".py"):
            text = open(os.path.join(root, name), encoding="utf-8").read()
            assert not re.search(r"\._(option_string_actions|actions|subparsers)\b", text), name


def test_alignment_defaults_come_from_one_table():
    import inspect

    from xlaug.transforms.align import AlignStep, WordAligner
    from xlaug.transforms.align_defaults import TASK_DEFAULTS
    expect = {("run", "align"): "align", ("eval", "align"): "align", ("dict", "induce"): "align",
              ("run", "codeswitch"): "align", ("run", "project"): "project", ("eval", "project"): "project"}
    for (group, command), task in expect.items():
        opts = {o.dest: o.default for o in command_options(group, command)}
        assert (opts["align_layer"], opts["align_method"]) == \
            (TASK_DEFAULTS[task]["layer"], TASK_DEFAULTS[task]["method"]), (group, command)
    for cls in (WordAligner, AlignStep):
        params = inspect.signature(cls.__init__).parameters
        assert (params["layer"].default, params["method"].default) == \
            (TASK_DEFAULTS["align"]["layer"], TASK_DEFAULTS["align"]["method"])


# -- YAML: the same conversion and the same errors as the command line -------------------

@pytest.mark.parametrize("yaml_text, argv", [
    ("max-ratio: 2.5\nmin-tokens: 3\n", ["--max-ratio", "2.5", "--min-tokens", "3"]),
    ("tgt-lang: no\nsrc-lang: en\n", ["--tgt-lang", "no", "--src-lang", "en"]),  # Norwegian, not False
    ("dedup: off\n", ["--dedup", "off"]),
    ("require-roundtrip: true\nfix-bio: false\n", ["--require-roundtrip"]),
    ("min_rt_chrf: -1\n", ["--min-rt-chrf", "-1"]),
    ("sample-alpha: null\n", []),
])
def test_yaml_and_command_line_parse_alike(tmp_path, pairs, yaml_text, argv):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    base = ["run", "filter", "--input", pairs, "--output", str(tmp_path / "o")]
    _, _, from_yaml = parse_args(base + ["--config", str(cfg)])
    _, _, from_cli = parse_args(base + argv)
    from_yaml.config = None
    assert vars(from_yaml) == vars(from_cli)


@pytest.mark.parametrize("yaml_text, argv, message", [
    ("dedup: maybe\n", ["--dedup", "maybe"], "--dedup: expected one of exact, normalized, off; got 'maybe'"),
    ("max-ratio: abc\n", ["--max-ratio", "abc"], "--max-ratio: expected a number, got 'abc'"),
    ("src-lang: english\n", ["--src-lang", "english"], "--src-lang: 'english' is not a language code"),
    ("min-tokens: 2.5\n", ["--min-tokens", "2.5"], "--min-tokens: expected an integer, got 2.5"),
    ("filter-batch-size: 0\n", ["--filter-batch-size", "0"], "--filter-batch-size: must be >= 1, got 0"),
])
def test_yaml_and_command_line_fail_alike(tmp_path, capsys, pairs, yaml_text, argv, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    out = str(tmp_path / "o")
    base = ["run", "filter", "--input", pairs, "--output", out]
    from_yaml = fails(capsys, base + ["--config", str(cfg)], out)
    from_cli = fails(capsys, base + argv, out)
    assert from_yaml == f"{cfg}: {from_cli}"
    assert from_cli.startswith(message)


@pytest.mark.parametrize("yaml_text, message", [
    ('require-roundtrip: "false"\n', "--require-roundtrip: is a flag: expected true or false, got 'false'"),
    ("require-roundtrip: 1\n", "--require-roundtrip: is a flag: expected true or false, got 1"),
    ("tgt-lang: false\n", "--tgt-lang: expected a value, got false (quote it in YAML)"),
    ("max-ratoi: 2\n", "unknown option 'max-ratoi' (did you mean max-ratio?)"),
    ("target: [a, b]\n", "--target: expected a single value, got list ['a', 'b']"),
])
def test_yaml_values_are_checked(tmp_path, capsys, pairs, yaml_text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    out = str(tmp_path / "o")
    assert fails(capsys, ["run", "filter", "--input", pairs, "--output", out, "--config", str(cfg)], out) == \
        f"{cfg}: {message}"


def test_yaml_gives_required_options_and_command_line_wins(tmp_path, pairs):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {pairs}\noutput: {tmp_path / 'o'}\nmax-ratio: 2\n", encoding="utf-8")
    _, _, o = parse_args(["run", "filter", "--config", str(cfg), "--max-ratio", "4"])
    assert (o.input, o.max_ratio) == ([pairs], 4.0)


# -- the Python API: same declarations, same run path -------------------------------------

def test_api_and_cli_reach_the_same_run_stages(monkeypatch, tmp_path, pairs):
    from xlaug.pipelines import api
    seen = []
    monkeypatch.setattr(api, "run_stages", lambda command, o: seen.append((command, vars(o))) or
                        {"identity_ok": True})
    out = str(tmp_path / "o")
    assert main(["run", "filter", "--input", pairs, "--output", out, "--max-ratio", "2", "--overwrite",
                 "--src-lang", "en", "--tgt-lang", "de", "--dedup", "exact"]) == 0
    api.run("filter", input=pairs, output=out, max_ratio=2, overwrite=True, src_lang="en", tgt_lang="de",
            dedup="exact")
    assert seen[0] == seen[1]
    assert seen[0][1]["max_ratio"] == 2.0 and seen[0][1]["overwrite"] is True


def test_api_errors_are_the_cli_errors(tmp_path, pairs):
    from xlaug.pipelines.api import parse
    base = dict(input=pairs, output=str(tmp_path / "o"))
    for kw, message in ((dict(dedup="maybe"), "--dedup: expected one of exact, normalized, off; got 'maybe'"),
                        (dict(max_ratoi=2), "unknown option 'max_ratoi' (did you mean max_ratio?)"),
                        (dict(overwrite="yes"), "--overwrite: is a flag: expected true or false, got 'yes'"),
                        (dict(src_lang="en", tgt_lang="eng"), "--src-lang en and --tgt-lang eng are the same"),
                        (dict(beam_args=["--max-ratoi", "1"]), "unknown option(s) --max-ratoi")):
        with pytest.raises(CliError) as e:
            parse("filter", **base, **kw)
        assert str(e.value).startswith(message)
    assert not os.path.exists(tmp_path / "o")
    o = parse("filter", **base, sample_alpha=None, seed="3")  # strings convert as on the command line
    assert o.seed == 3 and o.sample_alpha is None


# -- models: checked from config.json / tokenizer files before any work --------------------

def test_model_checks(tmp_path, capsys, monkeypatch, pairs, tiny_encoder, tiny_seq2seq, tiny_nllb, tiny_tagger):
    out = str(tmp_path / "out")
    run = ["--input", pairs, "--output", out]
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    cases = [
        (["run", "align", "--align-model", "models/enc"], "--align-model: model 'models/enc' not found: "
                                                           "no such directory"),
        (["run", "align"], "--align-model is required"),
        (["run", "align", "--align-model", tiny_seq2seq],
         f"--align-model: model '{tiny_seq2seq}' is a seq2seq (translation) model (marian); this needs an "
         "encoder (BERT/XLM-R/E5-type)"),
        (["run", "align", "--align-model", tiny_encoder, "--align-layer", "5"],
         f"--align-layer: layer 5 does not exist: model '{tiny_encoder}' has 2 layers (0 = embeddings ... 2)"),
        (["run", "align", "--align-model", tiny_encoder, "--align-device", "gpu0"],
         "--align-device: unknown device 'gpu0' (auto, cpu, cuda, cuda:N or mps)"),
        (["run", "backtranslate", "--translate-model", tiny_encoder],
         f"--translate-model: model '{tiny_encoder}' is an encoder (BERT/XLM-R/E5-type) (bert), not a seq2seq "
         "(translation) model"),
        (["run", "backtranslate", "--translate-model", tiny_seq2seq, "--device", "tpu"],
         "--device: unknown device 'tpu' (auto, cpu, cuda, cuda:N or mps)"),
        (["run", "backtranslate", "--translate-model", tiny_nllb, "--src-lang", "en", "--tgt-lang", "sw"],
         f"--translate-model: model '{tiny_nllb}' has no language code for target language 'sw' "
         "(tried swh_Latn)"),
        (["run", "project", "--align-model", tiny_encoder, "--align-layer", "2", "--mode", "translate-test",
          "--tagger-model", tiny_encoder],
         f"--tagger-model: model '{tiny_encoder}' has no token-classification head (bert, architectures: "
         "BertModel)"),
        (["run", "chain", "--step", f"align --align-model {tiny_encoder} --align-layer 2",
          "--step", f"codeswitch --align-model {tiny_seq2seq}"],
         f"--step codeswitch: --align-model: model '{tiny_seq2seq}' is a seq2seq (translation) model (marian); this needs an "
         "encoder (BERT/XLM-R/E5-type)"),
    ]
    for argv, message in cases:
        assert fails(capsys, argv[:2] + run + argv[2:], out) == message, argv


def test_a_hub_id_not_at_hand_fails_fast(tmp_path, capsys, monkeypatch, pairs):
    import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "out")
    start = time.time()
    message = fails(capsys, ["run", "align", "--input", pairs, "--output", out, "--align-model", "org/enc"], out)
    assert time.time() - start < 10
    assert message.startswith("--align-model: model 'org/enc' is not a local directory, and the Hugging Face "
                              "hub cannot be reached to find it (")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fails(capsys, ["run", "align", "--input", pairs, "--output", out, "--align-model", "org/enc"], out) == \
        ("--align-model: model 'org/enc' is not a local directory and not in the Hugging Face cache, and "
         "HF_HUB_OFFLINE=1 forbids downloading it")


def test_lexicon_must_match_the_run_languages(tmp_path, capsys):
    src = tmp_path / "de.txt"
    src.write_text("das ist ein Haus\n", encoding="utf-8")
    out = str(tmp_path / "out")
    base = ["run", "codeswitch", "--mode", "lexicon", "--input", str(src), "--output", out, "--lexicon", "en-de"]
    assert fails(capsys, base + ["--src-lang", "de"], out) == \
        "--lexicon en-de: translates en->de, but --src-lang is de (the lexicon must translate from it)"
    assert fails(capsys, base + ["--src-lang", "en", "--tgt-lang", "fr"], out) == \
        "--lexicon en-de: translates en->de, but --tgt-lang is fr (the lexicon must translate into it)"


# -- eval and dict commands ------------------------------------------------------------------

def test_eval_align_on_empty_files_is_an_error(tmp_path, capsys):
    p, g = tmp_path / "p.txt", tmp_path / "g.txt"
    p.write_text("", encoding="utf-8")
    g.write_text("", encoding="utf-8")
    assert fails(capsys, ["eval", "align", "--pairs", str(p), "--gold", str(g), "--align-model", "m"]) == \
        f"{p}: no pairs (empty file)"


def test_aer_is_undefined_without_links():
    from xlaug.transforms.metrics import aer, corpus_aer
    with pytest.raises(ValueError, match="undefined"):
        aer(set(), set(), set())
    assert corpus_aer([[(0, 0)]], [({(0, 0)}, set())]) == (1.0, 1.0, 0.0)


def test_dict_induce_does_not_overwrite(tmp_path, capsys, tiny_encoder):
    pairs = tmp_path / "p.tsv"
    pairs.write_text("the cat\tdie Katze\n" * 3, encoding="utf-8")
    out = tmp_path / "lex.tsv"
    out.write_text("keep\tme\n", encoding="utf-8")
    argv = ["dict", "induce", "--pairs", str(pairs), "--align-model", tiny_encoder, "--align-layer", "2",
            "--align-threads", "1", "--min-count", "1", "--out", str(out)]
    assert fails(capsys, argv) == f"--out {out}: exists (pass --overwrite to replace it)"
    assert out.read_text(encoding="utf-8") == "keep\tme\n"
    assert main(argv + ["--overwrite"]) == 0
    assert "keep\tme" not in out.read_text(encoding="utf-8")


# -- every example command in README.md and docs/ parses ------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md")] + sorted(
    os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))


def _code_blocks(text: str, skip=("text",)) -> list[str]:
    """Fenced blocks, except those marked ```text (listings, not commands)."""
    return [body for lang, body in re.findall(r"^```([a-z]*)\n(.*?)^```", text, flags=re.S | re.M)
            if lang not in skip]


def _example_commands(text: str) -> list[str]:
    commands = []
    for block in _code_blocks(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("xlaug "):
                commands.append(line)
    return commands


def _yaml_files(text: str, folder) -> dict:
    """YAML blocks whose first line is '# NAME.yaml', written to ``folder``."""
    files = {}
    for block in _code_blocks(text):
        m = re.match(r"#\s*(\S+\.ya?ml)\n", block)
        if m:
            path = folder / m.group(1)
            path.write_text(block, encoding="utf-8")
            files[m.group(1)] = str(path)
    return files


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.relpath(d, ROOT) for d in DOCS])
def test_documented_commands_parse(doc, tmp_path):
    text = open(doc, encoding="utf-8").read()
    configs = _yaml_files(text, tmp_path)
    commands = _example_commands(text)
    assert commands, doc
    for command in commands:
        words = shlex.split(command, comments=True)[1:]
        words = [configs.get(w, w) for w in words]
        if "--help" in words:
            continue
        try:
            assert parse_args(words) is not None, command
        except CliError as e:
            pytest.fail(f"{os.path.relpath(doc, ROOT)}: {command}\n  -> {e}")


# The stage pages' option tables name options of these commands.
PAGE_COMMANDS = {
    "alignment.md": [("run", "align"), ("eval", "align"), ("align", "fit")],
    "backtranslation.md": [("run", "backtranslate")],
    "codeswitching.md": [("run", "codeswitch"), ("dict", "induce")],
    "filtering.md": [("run", "filter")],
    "projection.md": [("run", "project"), ("eval", "project")],
}


@pytest.mark.parametrize("page", sorted(PAGE_COMMANDS))
def test_documented_options_exist(page):
    text = open(os.path.join(ROOT, "docs", page), encoding="utf-8").read()
    known = {"--" + o.name for key in PAGE_COMMANDS[page] for o in command_options(*key)}
    first_cells = [re.split(r"(?<!\\)\|", line)[1] for line in text.splitlines() if line.startswith("|")]
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)", "\n".join(first_cells)))
    assert named, page
    assert sorted(named - known) == [], page


def test_bundled_example_config_parses():
    cfg = os.path.join(ROOT, "examples", "filter.yaml")
    _, _, o = parse_args(["run", "filter", "--config", cfg, "--input", "x.tsv", "--output", "o",
                          "--src-lang", "en", "--tgt-lang", "de"])
    assert (o.dedup, o.max_ratio, o.filters["length"]["max_tokens"]) == ("normalized", 2.5, 120)


@pytest.mark.parametrize("extra, message", [
    (["--runner", "locl"], "--runner locl: no such runner (local, multiprocess, portable, dataflow, or a Beam "
                           "runner name such as FlinkRunner, SparkRunner)"),
    (["--runner", "dataflow", "--project", "p"], "--runner dataflow needs --region, --temp_location (and usually "
                                                 "--sdk_container_image built from runners/Dockerfile)"),
    (["--dataflow-gpu", "t4:x"], "--dataflow-gpu: expected an accelerator type and count such as "
                                 "nvidia-tesla-t4:1, got 't4:x'"),
])
def test_runner_checked_before_any_work(tmp_path, capsys, pairs, extra, message):
    out = str(tmp_path / "out")
    assert fails(capsys, ["run", "filter", "--input", pairs, "--output", out] + extra, out) == message


def test_option_defaults_match_the_library():
    """Each declared default is the library's own, so a command and a stage
    built in Python behave alike (the filter options read theirs from the filters)."""
    import inspect

    from xlaug.dictionaries.induce import induce
    from xlaug.transforms.align import WordAligner
    from xlaug.transforms.annotate import AnnotateStep
    from xlaug.transforms.codeswitch import CodeSwitchStep
    from xlaug.transforms.lexicon_replace import LexiconReplaceStep
    from xlaug.transforms.project import ProjectionPolicy, ProjectStep
    from xlaug.transforms.seq2seq import Decoding, Translator

    def defaults(fn):
        return {k: v.default for k, v in inspect.signature(fn).parameters.items()}

    def options(group, command):
        return {o.dest: o.default for o in command_options(group, command)}

    bt, cs, pr = options("run", "backtranslate"), options("run", "codeswitch"), options("run", "project")
    dec, tr = defaults(Decoding), defaults(Translator)
    assert (bt["decoding"], bt["num_beams"], bt["n"], bt["top_k"], bt["top_p"], bt["temperature"],
            bt["max_new_tokens"]) == (dec["mode"], dec["num_beams"], dec["n"], dec["top_k"], dec["top_p"],
                                      dec["temperature"], dec["max_new_tokens"])
    assert (bt["batch_tokens"], bt["translate_batch_size"], bt["device"], bt["dtype"]) == \
        (tr["batch_tokens"], tr["max_batch_size"], tr["device"], tr["dtype"])
    step = defaults(CodeSwitchStep)
    assert {k: cs[k] for k in ("alpha", "max_phrase_len", "max_swaps", "matrix", "samples")} == \
        {k: step[k] for k in ("alpha", "max_phrase_len", "max_swaps", "matrix", "samples")}
    lex = defaults(LexiconReplaceStep)
    assert (cs["prob"], cs["choice"]) == (lex["prob"], lex["choice"])
    policy, proj = defaults(ProjectionPolicy), defaults(ProjectStep)
    assert (pr["gap"], pr["derived_type"], pr["min_confidence"], pr["tag_rule"], pr["fill_tag"]) == \
        (policy["gap"], policy["derived_type"], policy["min_confidence"], proj["tag_rule"], proj["fill_tag"])
    assert pr["tagger_batch_size"] == defaults(AnnotateStep)["batch_size"]
    wa = defaults(WordAligner)
    for command in (("run", "align"), ("eval", "align"), ("dict", "induce"), ("run", "project")):
        o = options(*command)
        assert (o["align_batch_size"], o["align_long_input"], o["align_device"]) == \
            (wa["batch_size"], wa["long_input"], wa["device"])
    di, ind = options("dict", "induce"), defaults(induce)
    assert (di["min_count"], di["min_prob"], di["max_per_src"]) == \
        (ind["min_count"], ind["min_prob"], ind["max_per_src"])


def test_a_hub_id_the_hub_does_not_know(tmp_path, monkeypatch):
    import http.server
    import threading

    from xlaug.transforms.models import check_model

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(CliError) as e:
            check_model("org/no-such-model", "--translate-model", kind="seq2seq")
        assert str(e.value) == ("--translate-model: model 'org/no-such-model' is not a local directory and "
                                "not a model on the Hugging Face hub")
    finally:
        server.shutdown()


def test_home_is_expanded_in_yaml_and_keywords(tmp_path, pairs):
    from xlaug.pipelines.api import parse
    cfg = tmp_path / "c.yaml"
    cfg.write_text("align-model: ~/models/e5\n", encoding="utf-8")
    _, _, o = parse_args(["run", "align", "--input", pairs, "--output", "o", "--config", str(cfg)])
    assert o.align_model == os.path.expanduser("~/models/e5")
    assert parse("align", input=pairs, output="o", align_model="~/e5").align_model == os.path.expanduser("~/e5")


def test_yaml_null_means_the_default(tmp_path, capsys, pairs):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input: null\nmax-ratio: ~\n", encoding="utf-8")
    assert fails(capsys, ["run", "filter", "--output", str(tmp_path / "o"), "--config", str(cfg)]) == \
        "--input is required"
    _, _, o = parse_args(["run", "filter", "--input", pairs, "--output", "o", "--config", str(cfg)])
    assert o.max_ratio == 3.0
