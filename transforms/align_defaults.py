"""Alignment defaults and choices, importable without torch or Beam (CLI help)."""

# Chosen on the en-fr gold set with multilingual-e5-small (see docs/alignment.md).
DEFAULT_LAYER = 7
DEFAULT_METHOD = "argmax"
METHODS = ("argmax", "itermax", "match", "softmax")
LONG_INPUT_POLICIES = ("reject", "window")
