"""``python -m xlaug``: the command line."""
import sys

from xlaug.pipelines.cli import main

sys.exit(main())
