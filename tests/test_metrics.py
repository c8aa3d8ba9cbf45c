# SPDX-License-Identifier: GPL-3.0-or-later
"""The accuracy benchmark's yardstick: event metrics, with rows that are not judged (label -1)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from evaluation.metrics import GRACE_ROWS, score_series  # noqa: E402
from evaluation.sweep import persistent_flags  # noqa: E402

from anomalies.flags import PersistenceFlagger  # noqa: E402

EVENTS = (2000, 5000, 8000)  # three 50-row events in 10,000 rows


def three_events():
    labels = np.zeros(10_000, dtype=int)
    for start in EVENTS:
        labels[start:start + 50] = 1
    return labels


def score(labels, flags, interval_s=60):
    return score_series("d", "s", labels, np.where(flags, 0.9, 0.1), flags, interval_s)


def honest_flags():
    """10 flagged rows inside each event and 5 short false alarms (2 rows each)."""
    flags = np.zeros(10_000, dtype=bool)
    for start in EVENTS:
        flags[start + 5:start + 15] = True
    for start in (500, 1500, 3500, 6500, 9500):
        flags[start:start + 2] = True
    return flags


def test_honest_flags_keep_their_figures():
    honest = score(three_events(), honest_flags())
    assert (honest.found, honest.false_alarms, honest.delays) == (3, 5, [5, 5, 5])
    assert (round(honest.precision, 3), round(honest.recall, 3), round(honest.f1, 3)) == (0.375, 1.0, 0.545)
    assert honest.normal_flagged == 10 and honest.before_events == 0


def test_flagging_every_row_scores_badly():
    labels = three_events()
    everything = score(labels, np.ones(10_000, dtype=bool))
    assert everything.found == 3 and everything.false_alarms == 4  # before, between and after the events
    assert everything.normal_flagged_share == 1.0 and everything.precision == 0.0
    assert everything.f1 < score(labels, honest_flags()).f1 / 2


def test_a_long_run_into_each_event_is_charged():
    labels = three_events()
    flags = np.zeros(10_000, dtype=bool)
    for start in EVENTS:
        flags[start - 900:start + 10] = True
    early = score(labels, flags)
    assert early.found == 3 and early.delays == [0, 0, 0]  # flags from the event's start only
    assert early.false_alarms == 3 and early.before_events == early.normal_flagged == 2700
    assert early.f1 < score(labels, honest_flags()).f1


def test_flags_in_the_grace_after_an_event_are_free_and_beyond_it_are_charged():
    labels = three_events()
    flags = honest_flags()
    end = EVENTS[0] + 50
    flags[end:end + 10] = True  # the stated grace: the event's end is still in the features
    assert score(labels, flags).false_alarms == 5
    flags[end + 10:end + 13] = True
    assert score(labels, flags).false_alarms == 6 and score(labels, flags).normal_flagged == 13


def test_events_false_alarms_and_rows_that_are_not_judged():
    labels = np.zeros(100, dtype=int)
    labels[10:20] = 1       # an event, found
    labels[40:50] = 1       # an event, missed
    labels[70:80] = -1      # unplanned activity: not judged
    flags = np.zeros(100, dtype=bool)
    flags[15:17] = True     # inside the first event: found after 5 rows
    flags[30:32] = True     # a false alarm
    flags[75:85] = True     # flags on unjudged rows are free, the 5 normal rows after them are a false alarm
    probability = np.where(flags, 0.9, 0.1)
    probability[70:80] = 1.0  # the highest probabilities, but not judged: AUC-PR ignores them
    score = score_series("d", "s", labels, probability, flags, interval_s=60)
    assert (score.events, score.found, score.false_alarms, score.delays) == (2, 1, 2, [5])
    assert (score.normal_rows, score.normal_flagged) == (100 - 20 - 2 * GRACE_ROWS - 10, 7)
    assert score.normal_days == score.normal_rows * 60 / 86400  # neither events, grace nor unjudged rows
    with_unjudged_as_normal = score_series("d", "s", np.maximum(labels, 0), probability, flags, 60)
    assert with_unjudged_as_normal.false_alarms == 2 and with_unjudged_as_normal.normal_flagged == 12
    assert with_unjudged_as_normal.auc_pr < score.auc_pr


def test_the_swept_rule_is_the_collectors_flag_rule():
    rng = np.random.default_rng(0)
    percent = np.where(rng.random(3000) < 0.05, np.nan, 100 * rng.random(3000) ** 0.002)
    for threshold, min_n, window_n in ((99.0, 3, 10), (99.9, 5, 10), (99.99, 1, 1)):
        flagger = PersistenceFlagger(threshold, min_n, window_n)
        expected = np.array([flagger.update(["m"], np.array([p]))[0] for p in percent])
        swept = persistent_flags((percent / 100).astype(np.float32), threshold, min_n, window_n)
        assert expected.any() and np.array_equal(swept, expected), (threshold, min_n, window_n)
