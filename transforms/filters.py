"""Quality filters: each computes scores, then a threshold decides.

Scoring is kept apart from deciding (as in OpusFilter) so that scores stay on
the record, the report can show their distributions, and thresholds can
change without rescoring.
"""
from __future__ import annotations

from transforms.record import Record


class Filter:
    """Base class.  ``score`` returns {score_name: value}; ``accept`` turns
    scores into (ok, reason).  ``score_ranges`` gives each score's histogram
    range; ``thresholds`` each score's (op, value) decision for the report."""

    name = "filter"
    score_ranges: dict = {}

    @property
    def thresholds(self) -> dict:
        return {}

    def setup(self) -> None:
        """Load tables or models once per worker."""

    def score(self, record: Record) -> dict[str, float]:
        raise NotImplementedError

    def accept(self, scores: dict[str, float]) -> tuple[bool, str | None]:
        raise NotImplementedError
