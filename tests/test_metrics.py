# SPDX-License-Identifier: GPL-3.0-or-later
"""The accuracy benchmark's event metrics, including rows that are not judged (label -1)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from evaluation.metrics import score_series  # noqa: E402
from evaluation.sweep import persistent_flags  # noqa: E402

from anomalies.flags import PersistenceFlagger  # noqa: E402


def test_events_false_alarms_and_rows_that_are_not_judged():
    labels = np.zeros(100, dtype=int)
    labels[10:20] = 1       # an event, found
    labels[40:50] = 1       # an event, missed
    labels[70:80] = -1      # unplanned activity: not judged
    flags = np.zeros(100, dtype=bool)
    flags[15:17] = True     # inside the first event: found after 5 rows
    flags[30:32] = True     # a false alarm
    flags[75:85] = True     # touches the unjudged rows: no false alarm
    probability = np.where(flags, 0.9, 0.1)
    probability[70:80] = 1.0  # the highest probabilities, but not judged: AUC-PR ignores them
    score = score_series("d", "s", labels, probability, flags, interval_s=60)
    assert (score.events, score.found, score.false_alarms, score.delays) == (2, 1, 1, [5])
    assert score.normal_days == 70 * 60 / 86400  # neither the events nor the unjudged rows
    with_unjudged_as_normal = score_series("d", "s", np.maximum(labels, 0), probability, flags, 60)
    assert with_unjudged_as_normal.false_alarms == 2 and with_unjudged_as_normal.auc_pr < score.auc_pr


def test_the_swept_rule_is_the_collectors_flag_rule():
    rng = np.random.default_rng(0)
    percent = np.where(rng.random(3000) < 0.05, np.nan, 100 * rng.random(3000) ** 0.002)
    for threshold, min_n, window_n in ((99.0, 3, 10), (99.9, 5, 10), (99.99, 1, 1)):
        flagger = PersistenceFlagger(threshold, min_n, window_n)
        expected = np.array([flagger.update(["m"], np.array([p]))[0] for p in percent])
        swept = persistent_flags((percent / 100).astype(np.float32), threshold, min_n, window_n)
        assert expected.any() and np.array_equal(swept, expected), (threshold, min_n, window_n)
