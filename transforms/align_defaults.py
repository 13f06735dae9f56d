"""Alignment defaults and choices, importable without torch or Beam (CLI help).

One table of per-task defaults, each chosen on gold data with
multilingual-e5-small.  A task aligns for a purpose, and the best settings
differ by purpose:

- ``align``: links themselves (run align, eval align, code-switching, lexicon
  induction): ArgMax at layer 7, the lowest AER on en-fr Hansards (0.074;
  docs/alignment.md).  Precision matters for swapped phrases and lexicon entries.
- ``project``: annotation projection (run project, eval project): IterMax at
  layer 7, the best span F1 on en-de Europarl NER (0.938 against 0.920 for
  ArgMax; docs/projection.md): its extra links fill the inside of spans.
"""

METHODS = ("argmax", "itermax", "match", "softmax")
LONG_INPUT_POLICIES = ("reject", "window")

TASK_DEFAULTS = {
    "align": {"layer": 7, "method": "argmax"},
    "project": {"layer": 7, "method": "itermax"},
}

# The library's own defaults (WordAligner, AlignStep): the links task.
DEFAULT_LAYER = TASK_DEFAULTS["align"]["layer"]
DEFAULT_METHOD = TASK_DEFAULTS["align"]["method"]
DEFAULT_BATCH_SIZE = 32
