"""The package shape: one top-level package, and layers that point one way."""
import ast
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_library_never_imports_the_cli():
    offenders = []
    for folder in ("transforms", "runners", "dictionaries"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = [m for m in _imports(path) if m.startswith(("xlaug.pipelines", "pipelines"))]
            offenders += [f"{path.relative_to(ROOT)}: {m}" for m in bad]
    assert offenders == []


def test_no_bare_top_level_imports_of_our_folders():
    # Everything goes through the xlaug namespace; a bare 'import transforms'
    # would pick up whatever other 'transforms' is on the path.
    offenders = []
    for folder in ("transforms", "pipelines", "runners", "dictionaries", "tests", "xlaug"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = [m for m in _imports(path)
                   if m.split(".")[0] in ("transforms", "pipelines", "runners", "dictionaries")]
            offenders += [f"{path.relative_to(ROOT)}: {m}" for m in bad]
    assert offenders == []


def test_wheel_has_one_top_level_package_with_lexicons(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("xlaug-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"xlaug"}
    assert "xlaug/dictionaries/data/en-de.tsv" in names
    assert "xlaug/pipelines/cli.py" in names
