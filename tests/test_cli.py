import subprocess
import sys

import pytest

from xlaug.pipelines.cli import build_parser, main


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from xlaug.pipelines.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'apache_beam', 'transformers', 'simalign', 'datasets') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_every_command(capsys):
    from xlaug.pipelines.cli import COMMANDS
    for group in ("run", "eval", "dict"):
        with pytest.raises(SystemExit):
            main([group, "--help"])
        out = capsys.readouterr().out
        for g, command in COMMANDS:
            if g == group:
                assert command in out, f"xlaug {group} --help does not list {command}"


def test_group_without_command_shows_that_groups_commands(capsys):
    from xlaug.pipelines.cli import COMMANDS
    assert main(["run"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: xlaug run")
    assert all(command in out for g, command in COMMANDS if g == "run")
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: xlaug [")


def _first_run_command():
    from xlaug.pipelines.cli import COMMANDS
    import importlib
    for (group, cmd), mod in COMMANDS.items():
        if group == "run":
            try:
                importlib.import_module(mod)
                return cmd
            except ModuleNotFoundError:
                continue
    pytest.skip("no run command built")


def test_missing_input_is_one_clear_line(tmp_path, capsys):
    cmd = _first_run_command()
    code = main(["run", cmd, "--input", str(tmp_path / "nope.tsv"), "--output", str(tmp_path / "o"),
                 "--src-lang", "en", "--tgt-lang", "de"] + _required_extra(cmd, tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "nope.tsv: no such file" in err and "Traceback" not in err


def _required_extra(cmd, tmp_path):
    return {"backtranslate": ["--translate-model", str(tmp_path)], "project": [], "codeswitch": []}.get(cmd, [])


def test_bad_config_key_names_file_and_key(tmp_path, capsys):
    cmd = _first_run_command()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("no_such_option: 3\n")
    code = main(["run", cmd, "--config", str(cfg), "--input", "x", "--output", "y"])
    assert code == 2 and "unknown option 'no_such_option'" in capsys.readouterr().err


def test_bad_yaml_names_the_line(tmp_path, capsys):
    cmd = _first_run_command()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 1\nfoo: [unclosed\n")
    code = main(["run", cmd, "--config", str(cfg), "--input", "x", "--output", "y"])
    err = capsys.readouterr().err
    assert code == 2 and str(cfg) in err and "not valid YAML" in err
