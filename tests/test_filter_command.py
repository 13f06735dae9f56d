"""The ``xlaug run filter`` module: options -> filter config -> stages."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from xlaug.pipelines import filter as filter_cmd
from xlaug.pipelines.cli import CliError
from xlaug.transforms.record import Record
from xlaug.transforms.apply import ApplyStep


class _Parser:
    """The filter command's options as the command line gives them."""

    def parse_args(self, argv):
        from xlaug.pipelines.cli import parse_args
        return parse_args(["run", "filter", "--input", "in.tsv", "--output", "out"] + argv)[2]


@pytest.fixture
def parser():
    return _Parser()


def test_defaults_make_the_default_filters(parser):
    cfg = filter_cmd.filter_config(parser.parse_args(["--src-lang", "eng_Latn", "--tgt-lang", "de"]))
    assert cfg["langid"] == {"min_score": 0.5, "languages": ["en", "de"]}
    assert cfg["length"] == {"min_tokens": 1, "max_tokens": 250, "min_chars": 1, "max_chars": 2000,
                             "segmenter": "auto"}
    assert cfg["length_ratio"]["max_ratio"] == 3.0
    # A corpus language langid does not know is left out of the candidates.
    cfg = filter_cmd.filter_config(parser.parse_args(["--src-lang", "en", "--tgt-lang", "yo"]))
    assert cfg["langid"]["languages"] == ["en"]


def test_flags_then_mapping_on_top(parser, tmp_path):
    args = parser.parse_args(["--max-tokens", "50", "--skip", "roundtrip", "--langid-languages", "all",
                              "--filters", "{length: {min_tokens: 3}, langid: {min_score: 0.9}}"])
    cfg = filter_cmd.filter_config(args)
    assert cfg["length"]["max_tokens"] == 50 and cfg["length"]["min_tokens"] == 3
    assert cfg["langid"] == {"min_score": 0.9, "languages": None}
    assert cfg["roundtrip"] is False
    # A YAML file works too, also in --config style with a filters: key.
    f = tmp_path / "filters.yaml"
    f.write_text("filters:\n  length_ratio: {max_ratio: 1.5}\n")
    cfg = filter_cmd.filter_config(parser.parse_args(["--filters", str(f)]))
    assert cfg["length_ratio"]["max_ratio"] == 1.5
    # The filters: key of --config arrives as a mapping.
    args = parser.parse_args([])
    args.filters = {"alignment_coverage": False}
    assert filter_cmd.filter_config(args)["alignment_coverage"] is False


@pytest.mark.parametrize("argv, message", [
    (["--skip", "spelling"], "--skip: unknown filter 'spelling'"),
    (["--filters", "{length: {longest: 3}}"], "filter 'length': unknown option 'longest'"),
    (["--filters", "{length: [1, 2"], "--filters:1: not valid YAML"),
    (["--filters", "[1, 2]"], "expected a mapping"),
    (["--min-tokens", "9", "--max-tokens", "2"], "minimum 9 is above maximum 2"),
    (["--langid-languages", "en,qq"], "language 'qq' unknown to langid"),
    (["--sample-alpha", "-0.5"], "--sample-alpha: must be >= 0.0, got -0.5"),
])
def test_bad_options_are_one_line_cli_errors(parser, argv, message):
    with pytest.raises(CliError, match=message.replace("[", r"\[").replace("{", r"\{")):
        filter_cmd.build_stages(parser.parse_args(argv))


def test_stages_run_in_a_beam_pipeline(parser):
    args = parser.parse_args(["--src-lang", "en", "--tgt-lang", "de", "--sample-alpha", "0.5"])
    stages = filter_cmd.build_stages(args)
    assert [s.name for s in stages] == ["filter", "dedup", "sampling"]
    en = "The committee adopted the report on agricultural policy yesterday."
    de = "Der Ausschuss hat den Bericht über die Agrarpolitik gestern angenommen."
    records = [Record(id="1", src_lang="en", tgt_lang="de", src_text=en, tgt_text=de),
               Record(id="2", src_lang="en", tgt_lang="de", src_text=en.replace(" adopted", "  adopted").replace(".", " !"), tgt_text=de),
               Record(id="3", src_lang="en", tgt_lang="de", src_text=en, tgt_text=en),
               Record(id="4", src_lang="en", tgt_lang="de", src_text=en, tgt_text="")]
    with BeamPipeline(runner="BundleBasedDirectRunner") as p:
        pcoll = p | beam.Create(records)
        rejected = []
        for i, stage in enumerate(stages):
            out = pcoll | f"S{i}" >> ApplyStep(stage)
            pcoll = out.kept
            rejected.append(out.rejected)
        assert_that(pcoll | "Ids" >> beam.Map(lambda r: r.id), equal_to(["1"]), label="kept")
        assert_that(rejected | beam.Flatten() | "Why" >> beam.Map(lambda x: (x.record.id, x.reason)),
                    equal_to([("2", "near_duplicate"), ("3", "wrong_language_tgt"),
                              ("4", "empty_text")]), label="rejected")
