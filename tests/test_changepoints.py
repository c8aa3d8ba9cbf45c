# SPDX-License-Identifier: GPL-3.0-or-later
"""Change points of a window's dimensions (anomalies/changepoints.py)."""
from __future__ import annotations

import numpy as np

from anomalies.changepoints import ChangePointDetector


def autocorrelated(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """AR(1) noise with coefficient 0.9 and unit stationary spread: as smooth as Netdata's series."""
    rng = np.random.default_rng(seed)
    x = np.zeros((rows, columns))
    innovation = rng.normal(0, np.sqrt(1 - 0.81), (rows, columns))
    for i in range(1, rows):
        x[i] = 0.9 * x[i - 1] + innovation[i]
    return x


def test_a_level_shift_and_a_burst_of_spread_are_found_where_they_are_and_nothing_else():
    x = autocorrelated(3600, 300)
    x[2000:, 3] += 5
    x[1000:1500, 7] *= 6
    changes = ChangePointDetector().find(x, np.ones(300))
    found = sorted((c.column, c.kind, c.row) for c in changes)
    assert [(c, k) for c, k, _ in found] == [(3, "level"), (7, "spread"), (7, "spread")]
    assert abs(found[0][2] - 2000) <= 6 and abs(found[1][2] - 1000) <= 6
    assert abs(found[2][2] - 1500) <= 30  # a fall in spread is located less sharply
    level = [c for c in changes if c.column == 3][0]
    assert abs(level.before) < 0.5 and abs(level.after - 5) < 0.5


def test_a_shift_small_against_the_reference_spread_is_not_a_change():
    x = autocorrelated(1200, 1)
    x[600:, 0] += 2  # clear in the likelihood, but 2 reference sds: ordinary for this dimension
    assert not any(abs(c.row - 600) <= 10 for c in ChangePointDetector(min_shift=3).find(x, np.ones(1)))
    assert any(abs(c.row - 600) <= 10 for c in ChangePointDetector(min_shift=1.5).find(x, np.ones(1)))


def test_constant_short_and_missing_columns_are_skipped():
    x = autocorrelated(500, 3)
    x[:, 0] = 7.0  # constant
    x[100, 1] = np.nan  # a hole: not searched
    x[250:, 2] += 10
    changes = ChangePointDetector().find(x, np.ones(3))
    assert [c.column for c in changes] == [2]
    assert ChangePointDetector().find(x[:15], np.ones(3)) == []


def test_a_column_constant_in_the_reference_is_measured_against_its_magnitude():
    x = np.full((400, 1), 1000.0)
    x[200:] = 1200.0  # 20% up; the reference had no spread at all
    changes = ChangePointDetector().find(x, np.zeros(1))
    assert [(c.kind, c.row) for c in changes] == [("level", 200)]
