"""xlaug: synthetic data for cross-lingual NLP on Apache Beam.

The repository keeps the folders transforms/, pipelines/, runners/ and
dictionaries/ at its top; they install as xlaug.transforms, xlaug.pipelines,
xlaug.runners and xlaug.dictionaries (pyproject's package-dir), so the wheel
has one top-level package.
"""
__version__ = "0.1.0"

from xlaug.transforms.quiet import drop_known_noise as _drop_known_noise

_drop_known_noise()  # before anything imports Beam
