# SPDX-License-Identifier: GPL-3.0-or-later
"""Which flags a user wants: with `detection_direction` and `min_dev_from_expected` (vmanomaly's keys), a
flag rises only when a dimension driving it (`attribution.MIN_SHARE` of the score, or the largest share)
is on the allowed side of its expected value and farther from it than the minimum; once up, it stays while
the model stays flagged (judging every cycle would cut one anomaly into several alerts as its drivers
wobble). A dip in CPU use, or a 0.1% wobble of a counter, is then no anomaly. A flag held back leaves the
model's level just under the flag line, so the charts still say "flagged exactly when the level is at 100
or more"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Set, Tuple

import numpy as np

from .attribution import MIN_SHARE, ExpectedBand, offline_shares, streaming_parts

DIRECTIONS = ("both", "above", "below")
HELD_BACK_LEVEL = 99.0  # the level of a model whose flag is held back (100 is the flag line)


@dataclass(frozen=True)
class DeviationRule:
    """A flag's deviation must be `direction` of the expected value and more than `min_dev` from it (a share
    of the expected value when `relative`)."""

    direction: str = "both"
    min_dev: float = 0.0
    relative: bool = False

    @property
    def is_open(self) -> bool:
        """Does every flag stand (the defaults)?"""
        return self.direction == "both" and self.min_dev == 0

    def allows(self, values: np.ndarray, expected: np.ndarray, shares: np.ndarray) -> bool:
        """Per dimension of one model: its value, expected value and share of the score. Is one driving
        dimension allowed? A dimension without an expected value cannot be judged, and is allowed."""
        values, expected, shares = (np.asarray(a, dtype=np.float64) for a in (values, expected, shares))
        deviation = values - expected
        if self.relative:
            with np.errstate(divide="ignore", invalid="ignore"):
                size = np.where(expected != 0, np.abs(deviation) / np.abs(expected),
                                np.where(deviation != 0, np.inf, 0.0))
        else:
            size = np.abs(deviation)
        allowed = size > self.min_dev if self.min_dev > 0 else np.ones(len(values), dtype=bool)
        if self.direction == "above":
            allowed &= deviation > 0
        elif self.direction == "below":
            allowed &= deviation < 0
        allowed |= ~np.isfinite(expected)
        driving = shares >= MIN_SHARE
        if len(shares):
            driving[int(np.argmax(shares))] = True
        return bool((allowed & driving).any())


def parse_direction(value: Any) -> str:
    """`both`, `above` or `below` (any case)."""
    direction = str(value).strip().lower()
    if direction not in DIRECTIONS:
        raise ValueError("must be both, above or below")
    return direction


def parse_min_dev(value: Any) -> Tuple[float, bool]:
    """(minimum, relative) from a number >= 0 (absolute, in the chart's units) or 'N%' (a share of the
    expected value)."""
    text = str(value).strip()
    relative = text.endswith("%")
    number = float(text[:-1] if relative else text)
    if not np.isfinite(number) or number < 0:
        raise ValueError("must be a number >= 0, or a percentage such as '5%'")
    return (number / 100.0 if relative else number), relative


class DeviationGate:
    """The deviation rules applied to a job's flags, cycle after cycle: a model's flag is judged when it
    rises (and, while held back, every cycle after, so it stands once its deviation is allowed); a flag
    that stands stays up as long as the model is flagged."""

    def __init__(self):
        self.standing_: Set[str] = set()  # models whose flag was allowed and has been up since

    def apply(self, names: Sequence[str], flags: np.ndarray, levels: np.ndarray, rules: Sequence[DeviationRule],
              allowed: Callable[[int], bool]) -> Tuple[np.ndarray, np.ndarray]:
        """The flags and levels of one cycle with the flags held back that `allowed(i)` (asked only for
        flagged models with a rule that is not open and no standing flag) refuses, their levels just
        under the flag line."""
        flags, levels = np.array(flags, dtype=bool), np.array(levels, dtype=np.float64)
        standing = set()
        for i in np.flatnonzero(flags):
            name = names[i]
            if rules[i].is_open or name in self.standing_ or allowed(int(i)):
                standing.add(name)
            else:
                flags[i] = False
                levels[i] = min(levels[i], HELD_BACK_LEVEL)
        self.standing_ = standing
        return flags, levels


def offline_judge(models: Sequence, rules: Sequence[DeviationRule], band: Optional[ExpectedBand], n_columns: int,
                  feature_row: np.ndarray, row: np.ndarray) -> Callable[[int], bool]:
    """`allowed` for `DeviationGate.apply` over offline models (`scoring.TrainedModel`) scored on `feature_row`, the
    raw `row` of all `n_columns` columns, with the training window's `band` (None, in states saved before
    bands existed: every flag stands)."""
    def allowed(i: int) -> bool:
        if band is None:
            return True
        model = models[i]
        shares = offline_shares(model, feature_row, n_columns)
        columns = model.column_index
        return rules[i].allows(row[columns], band.expected[columns], shares)
    return allowed


def streaming_judge(models: Sequence, rules: Sequence[DeviationRule], n_columns: int, levels: bool,
                    row: np.ndarray) -> Callable[[int], bool]:
    """`allowed` for `DeviationGate.apply` over streaming models (`anomalies_online.stream.StreamingModel`) that have
    just scored the raw `row`; without level features there is no expected value, and every flag stands."""
    def allowed(i: int) -> bool:
        model = models[i]
        shares, band = streaming_parts(model, n_columns, levels)
        if band is None:
            return True
        return rules[i].allows(row[model.column_index], band.expected, shares)
    return allowed
