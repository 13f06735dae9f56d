"""Alignment defaults and choices, importable without torch or Beam (CLI help).

One table of per-task defaults, each chosen on gold data with
multilingual-e5-small.  A task aligns for a purpose, and the best settings
differ by purpose:

- ``align``: links themselves (run align, eval align, code-switching, lexicon
  induction): ArgMax at layer 7, the lowest AER on en-fr Hansards (0.074;
  docs/alignment.md).  Precision matters for swapped phrases and lexicon entries.
- ``project``: annotation projection (run project, eval project): IterMax at
  layer 6, the best mean span F1 over both directions of en-de Europarl NER
  (en->de 0.936, de->en 0.808 with the span rules; layer 7 gives 0.942 but
  0.758; docs/projection.md): its extra links fill the inside of spans.
"""

METHODS = ("argmax", "itermax", "match", "softmax", "grow")
LONG_INPUT_POLICIES = ("reject", "window")

TASK_DEFAULTS = {
    "align": {"layer": 7, "method": "argmax"},
    "project": {"layer": 6, "method": "itermax"},
}

# The library's own defaults (WordAligner, AlignStep): the links task.
DEFAULT_LAYER = TASK_DEFAULTS["align"]["layer"]
DEFAULT_METHOD = TASK_DEFAULTS["align"]["method"]
DEFAULT_BATCH_SIZE = 32
