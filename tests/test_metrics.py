# SPDX-License-Identifier: GPL-3.0-or-later
"""The accuracy benchmark's yardstick (event metrics, with rows that are not judged: label -1) and its
baselines (upstream's PCA rule, Netdata's k-means consensus)."""
import os
import re
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from evaluation import netdata_ml  # noqa: E402
from evaluation.detectors import SERVER, CollectorDetector  # noqa: E402
from evaluation.metrics import GRACE_ROWS, score_series  # noqa: E402
from evaluation.sweep import hysteresis_flags, persistent_flags, suppressed_flags  # noqa: E402

from anomalies.config import parse_config  # noqa: E402
from anomalies.features import FeatureSpec  # noqa: E402
from anomalies.flags import PersistenceFlagger  # noqa: E402
from anomalies.models import build_detector  # noqa: E402

EVENTS = (2000, 5000, 8000)  # three 50-row events in 10,000 rows

# the base rule these tests of the rules across charts are written for: 99.9 on 3 of 5 (the offline default
# from 2026-12-02 to 12-07), given explicitly so that they do not follow the defaults
RULE = (99.9, 3, 5)


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
    assert honest.normal_flagged == 10 and honest.before_events == honest.after_events == 0


def test_flagging_every_row_scores_badly():
    labels = three_events()
    everything = score(labels, np.ones(10_000, dtype=bool))
    assert everything.found == 3 and everything.false_alarms == 1  # one alert, from the first row on
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
    flags[end + 12:end + 15] = True  # raised again after the grace: a new alert, a false alarm
    assert score(labels, flags).false_alarms == 6 and score(labels, flags).normal_flagged == 13


def test_an_alert_going_on_past_the_grace_is_charged_by_time_not_as_a_new_false_alarm():
    """A run raised inside an event that outlasts its grace (a slow average still showing the fault) is the
    same alert: no new false alarm, but every row of it on normal time counts in the flagged share."""
    labels = three_events()
    flags = honest_flags()
    end = EVENTS[0] + 50
    flags[EVENTS[0] + 15:end + 10 + 40] = True  # from inside the event to 40 rows past its grace
    held = score(labels, flags)
    assert held.false_alarms == 5 and held.after_events == 40 and held.normal_flagged == 10 + 40
    assert held.precision < score(labels, honest_flags()).precision
    # held up to the next event and beyond: one alert, but its precision goes with the flagged time
    flags[end:] = True
    forever = score(labels, flags)
    assert forever.false_alarms == 2 and forever.found == 3  # the 2 short false alarms before the first event
    assert forever.normal_flagged_share > 0.7 and forever.f1 < held.f1 / 2


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


def test_the_upstream_baseline_scores_constant_features_as_upstream_did():
    """PyOD 3's PCA scores every row +inf when a feature is constant in training (a component of zero
    variance); upstream (PyOD 1.0, scikit-learn 1.2) got ratios of ~1e-34 and finite scores, in which a
    constant dimension that starts moving still counts (leaving constant features out hides it: then no
    row is flagged here)."""
    rng = np.random.default_rng(3)
    values = np.hstack([rng.normal(size=(2400, 3)).cumsum(axis=0), np.zeros((2400, 2))])
    values[2300:, 4] = 50.0  # a dimension constant in training moves in the test part
    spec = FeatureSpec(1, 3, 5)
    with warnings.catch_warnings():  # PyOD divides by 0
        warnings.simplefilter("ignore", RuntimeWarning)
        assert not np.isfinite(build_detector("pca", 0.001).fit(spec.matrix(values[:2000])).decision_scores_).any()
    config = parse_config({"model": "pca", "train_n_secs": 2000, "diffs_n": 1, "smooth_n": 3, "lags_n": 5,
                           "include_levels": False, "contamination": 0.001})
    detector = CollectorDetector(config, "s", [f"m{j}" for j in range(5)], {"up": "upstream"}, per_metric=False)
    assert detector.outputs == [("up", SERVER)]
    detector.train(values[:2000])
    probability, flag = detector.score(values[2000:])
    # what upstream's own pins (pyod 1.0.9, scikit-learn 1.2.2, numpy 1.26.4) give on these rows
    assert np.flatnonzero(flag[:, 0]).tolist() == list(range(300, 308))
    assert np.isfinite(probability).all() and probability[:300].max() == pytest.approx(0.82881, abs=1e-4)


def _kmeans():
    return netdata_ml.NetdataKMeans({"consensus": netdata_ml.KMEANS, "newest": netdata_ml.KMEANS_NEWEST},
                                    n_columns=1, interval_s=300.0)  # one row per 5-min grouping


def test_netdata_kmeans_needs_every_model_to_agree():
    rng = np.random.default_rng(4)
    wide, narrow = rng.normal(0, 10, size=(3000, 1)), rng.normal(0, 1, size=(3000, 1))
    detector = _kmeans()
    detector.train(wide)
    detector.train(narrow)  # the newest model knows only small changes
    assert [len(models) for models in detector.models] == [2]
    test = np.concatenate([narrow[-500:], [[25.0]], narrow[-500:], [[400.0]], narrow[-100:]])
    share, flag = detector.score(test)
    consensus, newest = share[:, 0] > 0, share[:, 1] > 0
    assert not newest[:500].any() and newest[500:510].any()  # a jump the wide model has seen before
    assert not consensus[:1001].any() and consensus[1001:1011].any()  # only the jump beyond both
    assert np.array_equal(flag, share >= netdata_ml.HOST_RATE)


def test_netdata_kmeans_keeps_the_last_models_and_skips_constant_windows():
    rng = np.random.default_rng(5)
    detector = _kmeans()
    for _ in range(21):
        detector.train(rng.normal(size=(400, 1)))
    newest = detector.models[0][0]
    detector.train(np.ones((400, 1)))  # a constant window: no model (the agent does not train it)
    assert len(detector.models[0]) == 18 and detector.models[0][0] is newest and detector.trainings == 22


@pytest.mark.parametrize("offset,window,every,ends", [
    (2400, 2400, 300, [900, 1200, 1500, 1800, 2100]),  # the Netdata recording: 40 min at 1 s
    (600, 600, 75, []),  # a training part shorter than 900 rows: its window only
    (23700, 14400, 1800, [23700 - 1800 * k for k in range(12, 0, -1)]),  # SMD
    (100_000, 14400, 1800, [100_000 - 1800 * k for k in range(17, 0, -1)]),  # MAX_MODELS - 1 at most
])
def test_netdata_kmeans_starts_with_the_trainings_of_an_agent_running_since_the_first_row(offset, window, every,
                                                                                          ends):
    assert netdata_ml.pretraining_ends(offset, window, every) == ends


def test_a_hysteresis_flag_is_raised_at_the_flag_rule_and_cleared_only_below_the_lower_one():
    p = np.array([0.5, 0.995, 0.9995, 0.9995, 0.9995, 0.995, 0.995, 0.5, 0.5, 0.5, 0.5, 0.5, 0.995])
    assert persistent_flags(p, 99.9, 3, 5).astype(int).tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    # raised where the 99.9 rule holds, kept while 3 of the last 5 are >= 99; the late 0.995 raises nothing
    assert hysteresis_flags(p, 99.9, 3, 5, 99.0).astype(int).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_suppression_drops_a_flag_up_for_half_of_the_window():
    flags = np.array([1] * 10 + [0] * 10 + [1] * 3, dtype=bool)
    kept = suppressed_flags(flags, 8)
    assert kept.astype(int).tolist() == [1, 1, 1] + [0] * 17 + [1, 1, 1]  # suppressed from the 4th of 8


def test_the_replay_runs_the_collector_at_the_series_interval():
    """The replay's window is the collector's `train_n_secs` at the series' interval, in rows: at one row a
    minute the defaults' 10 days are 14,400 rows, an explicit 4 hours 240; the peers' fixed 14,400 rows."""
    from evaluation.data import Series
    from evaluation.replay import Task, schedule

    def series(interval_s):
        return Series("x", "s", ["m0"], np.zeros((20000, 1)), np.zeros((10, 1)), np.zeros(10), interval_s)

    assert schedule(series(1))["train_n_secs"] == 14400
    assert schedule(series(60))["train_n_secs"] == 14400
    assert schedule(series(60), {"train_n_secs": 14400})["train_n_secs"] == 240
    assert schedule(series(300))["train_n_secs"] == 2880
    assert schedule(series(300), {"window_rows": 14400})["train_n_secs"] == 14400
    config = Task(series(60), "collector", {}, {}).config()
    assert (config.update_every, config.flags_min_n, config.train_n_secs) == (60, 3, 14400)


def test_a_lone_chart_needs_a_second_chart_or_its_own_stricter_rule():
    """Across charts (bench/evaluation/node_rules.py): a run of one chart's flags stands from the row where a
    second chart has been flagged within the window, or where its own stricter rule holds, to its end."""
    from evaluation.node_rules import node_flags

    p = np.full((60, 3), 0.5)
    p[2:6, 0] = 0.9995  # chart 0 alone, 4 rows: the base rule (99.9 on 3 of 5) flags rows 4-7
    p[20:24, 1] = 0.9995  # chart 1 from row 20 (flagged 22-25) ...
    p[25:30, 2] = 0.9995  # ... and chart 2 from row 25: flagged 27-31, within 10 rows of chart 1's flags
    p[45:50, 0] = 0.99995  # chart 0 alone again (flagged 47-51), at a higher bar
    assert node_flags(p, base_rule=RULE).astype(int).tolist()[:10] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]  # any chart
    two = node_flags(p, 2, 10, base_rule=RULE)
    assert not two[:20].any()  # the lone run is dropped
    assert two[27:32].all() and not two[22:27].any()  # stands from where the second chart is flagged
    assert not two[32:].any()
    lone = node_flags(p, 2, 10, (99.99, 3, 5), RULE)
    assert lone[47:52].all() and not lone[:20].any() and not lone[52:].any()


def test_node_rules_keeps_the_charts_a_charts_regex_picks_whole():
    """`bench/node_rules --charts`: a chart id is kept when the regex matches it whole, as `charts_regex` picks
    a job's charts, so `system.cpu` leaves out `system.cpu_some_pressure`; the default keeps per-disk charts and
    leaves out the pressure charts and the filesystems' used space and inodes."""
    import re

    from anomalies.config import DEFAULTS
    from evaluation.node_rules import charts_matching

    names = [f"vm.chart:{chart}" for chart in ("system.cpu", "system.cpu_some_pressure", "disk_ops.vda", "net.eth0",
                                               "mem.available", "apps.cpu", "disk_space._", "disk_inodes._dev")]
    assert charts_matching(names, re.compile(r"system\.cpu")) == [0]
    assert charts_matching(names, re.compile(DEFAULTS["charts_regex"])) == [0, 2, 4]


def test_netdata_suppression_drops_a_charts_flags_while_it_was_flagged_on_half_the_window():
    """node_rules' `suppressed`: a chart flagged on at least min_n of the last window_n rows (this one
    included) loses its flag until its count falls below; another chart's flags are its own."""
    from evaluation.node_rules import suppressed

    flags = np.zeros((40, 2), dtype=bool)
    flags[0:12, 0] = True  # chart 0 flagged 12 rows running
    flags[20:23, 0] = True  # and again after its window has cleared
    flags[5:8, 1] = True
    out = suppressed(flags, 4, 8)
    assert out[:, 0].astype(int).tolist()[:24] == [1, 1, 1] + [0] * 9 + [0] * 8 + [1, 1, 1, 0]
    assert (out[:, 1] == flags[:, 1]).all()


def test_the_re_applied_defaults_flag_a_level_held_under_the_bar_only_with_the_long_hold():
    """node_rules' `collector_rule` models the long hold when the defaults set it: a chart held at 98.5 for
    40 rows (under 99.5, over 98) is flagged from its 30th row, and not without the long hold."""
    from anomalies.config import DEFAULTS
    from evaluation.node_rules import collector_rule

    probability = np.full((60, 1), 0.5)
    probability[10:50, 0] = 0.985
    without = collector_rule(DEFAULTS)(probability)
    held = collector_rule({**DEFAULTS, "flags_long_threshold": 98.0, "flags_long_min_n": 30,
                           "flags_long_window_n": 30})(probability)
    assert not without.any() and np.flatnonzero(held).tolist() == list(range(39, 50))
    with pytest.raises(ValueError):
        collector_rule({**DEFAULTS, "flags_long_threshold": 98.0, "flags_min_models": 2})


def test_charts_together_below_the_bar_stand_once_enough_of_them_hold_the_lower_rule():
    """node_rules' `group`: runs of a lower rule stand from the row where k charts held it within the window."""
    from evaluation.node_rules import node_flags

    p = np.full((60, 4), 0.5)
    p[5:12, :2] = 0.996  # two charts at 99.6: below the bar (99.9), two of them only
    p[30:37, :3] = 0.996  # three charts at 99.6
    assert not node_flags(p, 2, 10, (99.99, 3, 5), RULE).any()
    together = node_flags(p, 2, 10, (99.99, 3, 5), RULE, group=((99.5, 3, 5), 3))
    assert not together[:30].any() and together[32:37].all() and not together[40:].any()


def test_the_replay_keeps_each_charts_probability():
    """The replay hands out the per-chart models' probabilities (for the rules across charts), the same as
    the per-chart view's maximum."""
    from evaluation.data import Series
    from evaluation.detectors import PER_CHART
    from evaluation.replay import Task, run

    rng = np.random.default_rng(3)
    metrics = ["a.x|one", "a.x|two", "b.y|one"]
    test = rng.normal(size=(300, 3))
    test[200:220, 2] += 30
    series = Series("netdata", "rec", metrics, rng.normal(size=(600, 3)), test, np.zeros(300), 1.0)
    result = run(Task(series, "collector", {"charts_regex": ".*"}, {"ours-zscore (defaults)": "ours"}))
    assert result.chart_names == ["rec.chart:a.x", "rec.chart:b.y"]
    j = result.outputs.index(("ours-zscore (defaults)", PER_CHART))
    scored = ~np.isnan(result.chart_probability).all(axis=1)
    assert scored.sum() > 250
    assert np.allclose(np.nanmax(result.chart_probability[scored], axis=1), result.probability[scored, j], atol=1e-6)
    assert result.chart_probability[205:215, 1].min() > 0.999


def test_a_recording_is_replayed_on_the_charts_the_configurations_charts_regex_picks():
    """A job models the charts its `charts_regex` picks whole: so does the replay of a recording, for each
    module's default charts and for every chart; a series without charts is replayed whole."""
    from evaluation.data import Series
    from evaluation.replay import Task, run

    rng = np.random.default_rng(4)
    metrics = ["system.cpu|user", "system.cpu_some_pressure|some 10", "mem.available|avail", "apps.cpu|x"]
    series = Series("netdata", "rec", metrics, rng.normal(size=(1200, 4)), rng.normal(size=(60, 4)),
                    np.zeros(60), 1.0)

    def charts(kind, settings):
        rule = "online" if kind == "online" else "ours"
        result = run(Task(series, kind, {"per_metric": True, **settings}, {"x": rule}))
        assert result.series is series
        return [name.partition("chart:")[2] for name in result.chart_names]

    assert charts("collector", {}) == ["system.cpu", "mem.available"]
    assert charts("online", {}) == ["system.cpu", "system.cpu_some_pressure", "mem.available"]
    assert charts("collector", {"charts_regex": ".*"}) == [m.partition("|")[0] for m in metrics]
    assert charts("collector", {"charts_regex": r"system\..*"}) == ["system.cpu", "system.cpu_some_pressure"]
    plain = Series("smd", "m", ["m0", "m1"], series.train[:, :2], series.test[:, :2], series.labels, 60.0)
    assert plain.charts_picked(re.compile("system")) is plain


def test_the_streaming_replay_keeps_each_charts_probability_and_flags_each_view_apart():
    """The streaming replay hands out its per-chart probabilities too, and with a rule across models each
    view is flagged as a job of its own: the server model, alone in its view, is flagged as if the rule were
    off, while a chart flagged alone in the per-chart view waits for its stricter rule."""
    from evaluation.data import Series
    from evaluation.detectors import PER_CHART, SERVER
    from evaluation.replay import Task, run

    rng = np.random.default_rng(5)
    metrics = ["a.x|one", "a.x|two", "b.y|one"]
    test = rng.normal(size=(400, 3))
    test[300:340, 2] += 12
    series = Series("netdata", "rec", metrics, rng.normal(size=(3600, 3)), test, np.zeros(400), 1.0)
    name = "online-zscore (defaults)"
    every = {"per_metric": True, "charts_regex": ".*"}
    off = run(Task(series, "online", every, {name: "online"}))
    on = run(Task(series, "online", {**every, "flags_min_models": 2, "flags_alone_threshold": 100.0},
                  {name: "online"}))
    assert off.chart_names == ["rec.chart:a.x", "rec.chart:b.y"]
    chart, server = off.outputs.index((name, PER_CHART)), off.outputs.index((name, SERVER))
    assert np.allclose(off.chart_probability.max(axis=1), off.probability[:, chart], atol=1e-6)
    assert off.flag[300:340, chart].any() and off.flag[300:340, server].any()
    assert not on.flag[:, chart].any()  # b.y alone, and never at 100
    assert (on.flag[:, server] == off.flag[:, server]).all()  # one model in its view: as if off


@pytest.mark.parametrize("lone", [None, (99.99, 3, 5), (99.9, 8, 10)])
def test_the_rules_across_charts_are_the_collectors_own(lone):
    """node_rules.node_flags, re-applied after a replay, flags the rows the collector's CorroboratedFlagger
    flags cycle by cycle."""
    from anomalies.flags import CorroboratedFlagger
    from evaluation.node_rules import node_flags

    rng = np.random.default_rng(7)
    p = rng.uniform(0, 0.99, size=(3000, 6))
    for _ in range(60):  # bursts of 2 to 11 rows on one chart, above 99.9 or above 99.99, some together
        chart, start, rows = rng.integers(6), rng.integers(3000), rng.integers(2, 12)
        p[start:start + rows, chart] = rng.choice([0.9995, 0.99995])
    lone_flagger = PersistenceFlagger(*lone) if lone else None
    flagger = CorroboratedFlagger(PersistenceFlagger(99.9, 3, 5), lone_flagger, 2, 10)
    names = [f"c{j}" for j in range(6)]
    collector = np.array([flagger.update(names, row * 100).any() for row in p])
    assert 10 < collector.sum() < node_flags(p, base_rule=RULE).sum()  # some lone runs are dropped, not all
    assert (collector == node_flags(p, 2, 10, lone, RULE)).all()


def test_per_series_prints_each_recordings_own_cells(tmp_path):
    """`bench/per_series` scores each series of a dump apart, in the views asked for, and pools them."""
    import pickle
    import subprocess
    import sys

    labels = np.zeros(600, dtype=np.int8)
    labels[100:160] = 1
    hit, miss = np.zeros(600, dtype=bool), np.zeros(600, dtype=bool)
    hit[110:150] = True
    miss[400:420] = True  # a false alarm on normal time
    probability = np.where(hit | miss, 0.99, 0.1)[:, None]
    outputs = [("ours-zscore (defaults)", "per-chart models")]
    dump = [{"dataset": "netdata", "series": name, "interval_s": 1.0, "labels": labels, "outputs": outputs,
             "probability": probability, "flag": flags[:, None], "chart_names": [], "chart_probability": None}
            for name, flags in (("found", hit), ("alarm", miss))]
    path = tmp_path / "dump.pickle"
    path.write_bytes(pickle.dumps(dump))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "per_series")
    out = subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("| ours-zscore (defaults) · per-chart"))
    found, alarm, pooled = [c.strip() for c in row.strip("|").split("|")[1:]]
    assert found.startswith("1.000 · 1/1 · 0 · 0.0/h")
    assert alarm.startswith("0.000 · 0/1 · 1 · ")
    assert pooled.startswith("0.495 · 1/2 · 1 · ")  # P = 1/2 x (1 - the 1.9% of normal time flagged)
    out = subprocess.run([sys.executable, script, "--view", "server model", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "· per-chart models" not in out
