# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the streaming module: standardisation, calibration, flags on a long stationary stream,
model bookkeeping and every detector."""
import os
import pickle
import sys

import numpy as np
import pytest

from anomalies.columns import Column
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies.flags import PersistenceFlagger
from anomalies.planning import ModelSpec
from anomalies_online.calibration import RollingCalibrator
from anomalies.config import SLOW_COLLECTION_FLAGS, SLOW_COLLECTION_S
from anomalies_online.config import DEFAULTS, MODELS, SLOW_COLLECTION_DEFAULTS, parse_config
from anomalies_online.standardize import RunningStandardizer
from anomalies_online.stream import StreamingBank, stream_cycle

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from evaluation.metrics import runs  # noqa: E402  (the bench's flag rule over a stream, as stationary_flags.py)
from evaluation.sweep import persistent_flags  # noqa: E402


def test_standardizer_converges_to_the_recent_mean_and_variance():
    rng = np.random.default_rng(0)
    standardizer = RunningStandardizer(2, span=500, z_limit=10.0)
    for x in rng.normal([5.0, -3.0], [2.0, 0.1], size=(5000, 2)):
        standardizer.learn(x)
    assert standardizer.mean_ == pytest.approx([5.0, -3.0], abs=0.3)
    assert np.sqrt(standardizer.var_) == pytest.approx([2.0, 0.1], rel=0.15)
    assert standardizer.transform(np.array([5.0 + 4.0, 1e9]))[1] == 10.0  # clipped at z_limit
    wider = RunningStandardizer(2, span=500, z_limit=20.0)
    wider.mean_, wider.var_, wider.n_seen_ = standardizer.mean_.copy(), standardizer.var_.copy(), 1
    assert wider.transform(np.array([5.0, standardizer.mean_[1] + 15 * np.sqrt(standardizer.var_[1])]))[1] == \
        pytest.approx(15.0)
    assert wider.transform(np.array([5.0, -1e9]))[1] == -20.0
    for x in rng.normal([50.0, -3.0], [2.0, 0.1], size=(3000, 2)):  # a level shift is forgotten
        standardizer.learn(x)
    assert standardizer.mean_[0] == pytest.approx(50.0, abs=0.5)


def test_rolling_calibrator_ranks_against_the_last_window_only():
    calibrator = RollingCalibrator(window_n=100, contamination=0.01)
    assert np.isnan(calibrator.probability(1.0))
    for score in range(1000):
        calibrator.learn(float(score))
    assert calibrator.n_ == 100 and calibrator.sorted_.tolist() == [float(s) for s in range(900, 1000)]
    assert calibrator.probability(900.0) == 0.0  # strictly below, as offline
    assert calibrator.probability(950.0) == 50.0
    assert 98.0 < calibrator.probability(1000.0) < calibrator.probability(1005.0) <= 100.0  # fitted tail
    assert calibrator.normalized(900.0) == 0.0 and calibrator.normalized(999.0) == pytest.approx(1.0)
    calibrator.learn(float("nan"))
    assert calibrator.n_ == 100


def test_rolling_window_stays_sorted_and_equal_to_the_last_scores():
    rng = np.random.default_rng(5)
    calibrator = RollingCalibrator(window_n=97)
    scores = rng.choice([0.0, 1.0, 2.5, 7.0], size=3000) + rng.normal(size=3000) * (rng.random(3000) < 0.5)
    for t, score in enumerate(scores):
        calibrator.learn(score)
        if t % 211 == 0 or t == len(scores) - 1:
            kept = scores[max(0, t - 96):t + 1].astype(np.float32)  # as the calibrator keeps them
            assert calibrator.sorted_[:calibrator.n_].tolist() == sorted(kept)


@pytest.mark.parametrize("learned", [0, 40, 97, 250], ids=["empty", "filling", "just full", "wrapped"])
def test_a_pickled_calibrator_carries_on_as_the_original(learned):
    """Pickled, the window holds its scores once, oldest first (the sorted copy is rebuilt on load): half
    the bytes, and the copy ranks and learns as the original does."""
    rng = np.random.default_rng(learned)
    original = RollingCalibrator(window_n=97)
    for score in rng.gamma(2.0, size=learned):
        original.learn(score)
    blob = pickle.dumps(original, protocol=5)
    copy = pickle.loads(blob)
    assert len(blob) < 97 * 8 + 1000  # one array of 97 floats, not two
    for score in rng.gamma(2.0, size=300):
        assert copy.probability(score) == pytest.approx(original.probability(score), nan_ok=True)
        assert copy.normalized(score) == pytest.approx(original.normalized(score), nan_ok=True)
        original.learn(score)
        copy.learn(score)
    assert copy.sorted_.tolist() == original.sorted_.tolist()


def test_calibrated_probabilities_are_uniform_below_the_tail():
    rng = np.random.default_rng(1)
    calibrator = RollingCalibrator(window_n=2000)
    probabilities = []
    for score in rng.gamma(2.0, size=20000):
        probabilities.append(calibrator.probability(score))
        calibrator.learn(score)
    deciles = np.histogram(probabilities[2000:], bins=10, range=(0, 100))[0] / 18000
    assert np.all(np.abs(deciles - 0.1) < 0.015)


def _stream(config, values, after_cycle=None):
    """Run a bank over raw rows (time × columns, one model per 3 columns); return flags and probabilities.
    `after_cycle(bank)`, if given, is called after each cycle."""
    spec = FeatureSpec.from_config(config)
    columns = [Column("h", f"c{i // 3}", f"d{i % 3}") for i in range(values.shape[1])]
    bank = StreamingBank(config, spec)
    bank.replan([ModelSpec(f"c{c}", tuple(columns[3 * c:3 * c + 3])) for c in range(len(columns) // 3)])
    flagger = PersistenceFlagger(config.flags_threshold, config.flags_min_n, config.flags_window_n)
    window = FeatureWindow(spec, np.empty((0, len(columns))))
    shape = (len(values), len(bank.models))
    flags, probabilities = np.zeros(shape, bool), np.full(shape, np.nan)
    for t, row in enumerate(values):
        feature_row = window.push(row)
        if feature_row is not None:
            cycle = stream_cycle(bank, flagger, feature_row, np.isfinite(row))
            flags[t], probabilities[t] = cycle.flags, cycle.probabilities
            if after_cycle is not None:
                after_cycle(bank)
    return flags, probabilities


def _ar1(rng, n, d, heavy=False):
    noise = rng.standard_t(3, size=(n, d)) if heavy else rng.standard_normal((n, d))
    values = np.zeros((n, d))
    for t in range(1, n):
        values[t] = 0.9 * values[t - 1] + noise[t]
    return values + 50.0


def _raises(flags):
    """Per column, how many times a stream of flags (time × models) rises."""
    return (flags[1:] & ~flags[:-1]).sum(axis=0)


def _flags_raised(probabilities, threshold, min_n, window_n):
    """Per column, how many times the persistence rule raises a flag over a stream of probabilities."""
    return np.array([len(runs(persistent_flags(column / 100.0, threshold, min_n, window_n)))
                     for column in probabilities.T])


def test_a_stationary_day_gives_at_most_one_flag_per_chart_with_defaults():
    rng = np.random.default_rng(2)
    day = 86400
    values = np.hstack([_ar1(rng, day, 6), _ar1(rng, day, 3, heavy=True)])
    config = parse_config({})
    flags, probabilities = _stream(config, values)
    events = _raises(flags)
    assert events.max() <= 1, events
    assert (_flags_raised(probabilities, config.flags_threshold, config.flags_min_n, config.flags_window_n)
            == events).all()
    # the same stream under the offline rule (99.9 on 3 of 5) flags several times a day: the default is what
    # keeps it quiet
    assert _flags_raised(probabilities[:day // 4], 99.9, 3, 5).sum() >= 1
    # at one sample a minute 28,800 samples are 20 days: the slow defaults (their rule and their clip) keep
    # the promise of at most one flag a day
    slow = parse_config({"update_every": SLOW_COLLECTION_S})
    slow_flags, _ = _stream(slow, values[:20 * 1440])
    assert _raises(slow_flags).max() <= 20


def test_a_level_shift_is_flagged_after_the_warm_up_and_never_during_it():
    rng = np.random.default_rng(3)
    values = _ar1(rng, 4000, 3)
    during_warm_up, after = values.copy(), values.copy()
    during_warm_up[500:520] += 40.0  # warmup_n is 1000
    after[3000:] += 40.0
    flags, _ = _stream(parse_config({}), during_warm_up)
    assert not flags.any()
    flags, probabilities = _stream(parse_config({}), after)
    assert not flags[:3000].any() and flags[3000:3020].any()
    assert np.nanmax(probabilities[3000:3010]) > 99.99


@pytest.mark.parametrize("model", MODELS)
def test_every_model_scores_learns_and_flags_a_level_shift(model):
    """Flagged (at 99 on 5 of 10) within 10 samples of the shift, and cleared once the features (a
    difference, a mean of 3, 5 lags: with the default 2 the shift's difference leaves the features after 6
    samples, too few for rrcf to hold 5 of 10) no longer see it."""
    rng = np.random.default_rng(4)
    values = _ar1(rng, 1600, 3)
    values[1400:] += 40.0
    config = parse_config({"model": model, "warmup_n": 300, "window_n": 600, "tree_size": 64, "lags_n": 5,
                           "flags_threshold": 99.0, "flags_min_n": 5, "flags_window_n": 10})
    flags, probabilities = _stream(config, values)
    assert np.isfinite(probabilities[400:]).all()
    assert np.nanmax(probabilities[1400:1415]) > 99.0
    assert not flags[:300].any()
    assert flags[1400:1410, 0].any() and not flags[1420:].any()


def test_replan_keeps_the_state_of_unchanged_models():
    config = parse_config({})
    bank = StreamingBank(config, FeatureSpec(1, 3, 5))
    a, b, c = (ModelSpec(name, (Column("h", name, "x"),)) for name in "abc")
    assert bank.replan([a, b]) == (["a", "b"], [])
    bank.models[0].calibrator.learn(1.0)
    assert bank.replan([c, a]) == (["c"], ["b"])
    assert bank.names == ["c", "a"] and bank.models[1].calibrator.n_ == 1
    assert bank.models[1].column_index.tolist() == [1]


def test_slow_collection_has_its_own_flag_rule_and_a_warm_start_over_the_warm_up():
    fast, slow = parse_config({}), parse_config({"update_every": SLOW_COLLECTION_S})
    rule = lambda c: (c.flags_threshold, c.flags_min_n, c.flags_window_n)  # noqa: E731
    assert rule(fast) == (DEFAULTS["flags_threshold"], DEFAULTS["flags_min_n"], DEFAULTS["flags_window_n"])
    assert rule(slow) == tuple(SLOW_COLLECTION_FLAGS[k] for k in ("flags_threshold", "flags_min_n",
                                                                     "flags_window_n"))
    # and a wider clip, which the models' standardisers get
    assert (fast.z_limit, slow.z_limit) == (DEFAULTS["z_limit"], SLOW_COLLECTION_DEFAULTS["z_limit"]) == (10, 20)
    bank = StreamingBank(slow, FeatureSpec.from_config(slow))
    bank.replan([ModelSpec("a", (Column("h", "c", "a"),))])
    assert bank.models[0].standardizer.z_limit == 20
    # a key the user sets wins at any interval; a broken update_every is one problem and the fast rule
    assert parse_config({"update_every": 300, "flags_min_n": 4}).flags_min_n == 4
    broken = parse_config({"update_every": "often"})
    assert rule(broken) == rule(fast) and broken.update_every == 1 and "update_every" in broken.problems[0]
    # the warm start reads at least warmup_n samples: an hour at 1 s, 1,000 minutes at 60 s
    assert fast.warm_start_span_secs() == 3600
    assert slow.warm_start_span_secs() == DEFAULTS["warmup_n"] * SLOW_COLLECTION_S
    assert parse_config({"update_every": 60, "warm_start_secs": 0}).warm_start_span_secs() == 0


def test_online_config_names_bad_keys_and_keeps_shared_meaning():
    config = parse_config({"model": "nope", "window_n": 0, "warm_start_secs": -1, "charts_regex": "("})
    assert config.model == DEFAULTS["model"] and config.window_n == DEFAULTS["window_n"]
    assert sorted(p.split(":")[0] for p in config.problems) == ["charts_regex", "model", "warm_start_secs",
                                                               "window_n"]


def test_a_dimension_without_a_first_value_does_not_poison_its_model():
    """Its window holds NaN until the first value has gone through every lag: the model waits, then
    scores as usual (learning NaN would make every later score NaN)."""
    rng = np.random.default_rng(5)
    values = _ar1(rng, 600, 3)
    values[:4, 1] = np.nan  # the dimension has no value yet in the first rows after a (re)start
    _, probabilities = _stream(parse_config({"warmup_n": 100}), values)
    assert np.isnan(probabilities[:12]).all()
    assert np.isfinite(probabilities[100:]).all()


def test_a_dimension_that_holds_one_value_stays_at_z_zero():
    """A dimension that never moves (a filesystem's free space, a large count) is standardised to 0 in
    every feature, whatever its size: its running mean is its value from the first sample on, so no rounding
    noise is scored against a variance of 0 (the offline module's bug of 2026-12-07)."""
    rng = np.random.default_rng(7)
    values = _ar1(rng, 3000, 3)
    values[:, 1] = 123456789012.3  # held, and not a round number in binary
    config = parse_config({"warmup_n": 100})
    held = FeatureSpec.from_config(config).feature_index([1], 3)
    largest = []
    _stream(config, values, lambda bank: largest.append(float(np.abs(bank.models[0].last_z_[held]).max())))
    assert len(held) >= 2 and len(largest) > 2000 and max(largest) == 0.0
