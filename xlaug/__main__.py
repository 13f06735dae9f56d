"""``python -m xlaug``: the command line."""
from xlaug.pipelines.cli import entry

entry()
