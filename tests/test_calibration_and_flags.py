# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np

from anomalies.calibration import EmpiricalCalibrator
from anomalies.config import DEFAULTS
from anomalies.features import FeatureSpec
from anomalies.config import parse_config
from anomalies.flags import (CorroboratedFlagger, EitherFlagger, PersistenceFlagger, flagger_for, note_training,
                             rule_text)
from anomalies.models import fit_scorer


def test_probability_is_the_empirical_percentile_and_score_is_relative_to_the_threshold():
    calibrator = EmpiricalCalibrator(contamination=0.1).fit(np.arange(1.0, 11.0))
    np.testing.assert_allclose(calibrator.probability(np.array([0.5, 1.0, 5.5, 10.0, 99.0])),
                               [0.0, 0.0, 50.0, 90.0, 100.0])
    assert calibrator.threshold_ == np.quantile(np.arange(1.0, 11.0), 0.9)
    assert calibrator.normalized(np.array([1.0]))[0] == calibrator.normalized(np.array([-5.0]))[0] == 0.0
    assert calibrator.normalized(np.array([calibrator.threshold_]))[0] == 1.0


def stationary_stream(n, rng):
    """Two correlated noisy series, like a chart with two related dimensions."""
    base = rng.normal(size=n)
    return np.column_stack([base + 0.3 * rng.normal(size=n), 2 * base + 0.3 * rng.normal(size=n)]) + 50


def test_on_stationary_data_probabilities_are_roughly_uniform_and_flags_rare():
    rng = np.random.default_rng(7)
    spec = FeatureSpec(1, 3, 5)
    train = spec.matrix(stationary_stream(14400, rng))
    scorer, train_scores = fit_scorer("pca", train, 0.001)
    calibrator = EmpiricalCalibrator(0.001).fit(train_scores)
    test = spec.matrix(stationary_stream(3600 * 6, rng))
    probabilities = calibrator.probability(scorer.score(test))
    deciles = np.histogram(probabilities, bins=10, range=(0, 100))[0] / len(probabilities)
    assert np.all(np.abs(deciles - 0.1) < 0.03), deciles
    flagger = PersistenceFlagger(DEFAULTS["flags_threshold"], DEFAULTS["flags_min_n"], DEFAULTS["flags_window_n"])
    flags = np.array([flagger.update(["m"], p[None])[0] for p in probabilities])
    flag_events = np.sum(np.diff(flags.astype(int)) == 1)
    # 3 of 5 at 99.9 (docs/ablation.md): about one short flag an hour on this i.i.d. noise, 5 of 10 gave 4
    assert flags.mean() < 0.001 and flag_events <= 6, (flags.mean(), flag_events)


def test_an_injected_shift_is_flagged():
    rng = np.random.default_rng(8)
    spec = FeatureSpec(1, 3, 5)
    scorer, train_scores = fit_scorer("pca", spec.matrix(stationary_stream(3600, rng)), 0.001)
    calibrator = EmpiricalCalibrator(0.001).fit(train_scores)
    live = stationary_stream(300, rng)
    live[150:200, 0] += rng.normal(scale=4, size=50)  # one dimension turns erratic for 50 steps
    probabilities = calibrator.probability(scorer.score(spec.matrix(live)))
    flagger = PersistenceFlagger(DEFAULTS["flags_threshold"], DEFAULTS["flags_min_n"], DEFAULTS["flags_window_n"])
    flags = np.array([flagger.update(["m"], p[None])[0] for p in probabilities])
    offset = spec.window - 1  # feature row i describes time i + offset
    # flagged within 12 steps (the rule holds 99.5 for 8 of 10) and for much of the erratic stretch
    assert flags[150 - offset:162 - offset].any() and flags[150 - offset:200 - offset].mean() > 0.4
    assert flags[:140 - offset].sum() == 0 and not flags[215 - offset:250 - offset].any()
    # later, at most one short flag of noise (3 of 5 at 99.9 raises about one an hour on such data)
    later = flags[250 - offset:].astype(int)
    assert np.sum(np.diff(later) == 1) + later[0] <= 1 and later.sum() <= 5


def test_flags_need_min_n_of_window_n_and_histories_are_per_model():
    flagger = PersistenceFlagger(threshold=90, min_n=2, window_n=3)
    seen = [flagger.update(["a", "b"], np.array(p)).tolist()
            for p in ([95, 10], [10, 95], [95, 95], [10, 10], [10, np.nan], [10, 95])]
    assert seen == [[False, False], [False, False], [True, True], [False, True], [False, False],
                    [False, False]]
    flagger.forget(["a"])
    assert flagger.names_ == ["b"]
    # a model that comes back starts without history; the other keeps its own (95 two cycles ago)
    assert flagger.update(["a", "b"], np.array([95, 95])).tolist() == [False, True]


def test_a_probability_equal_to_the_threshold_counts():
    flagger = PersistenceFlagger(threshold=99.9, min_n=2, window_n=3)
    flagger.update(["m"], np.array([99.9]))
    assert flagger.update(["m"], np.array([99.9])).tolist() == [True]
    below = PersistenceFlagger(threshold=99.9, min_n=2, window_n=3)
    below.update(["m"], np.array([99.89]))
    assert below.update(["m"], np.array([99.9])).tolist() == [False]


def test_the_held_probability_is_the_persistence_rule():
    rng = np.random.default_rng(3)
    flagger = PersistenceFlagger(threshold=90, min_n=4, window_n=10)
    history = []
    for _ in range(200):
        p = rng.uniform(50, 100, size=3)
        p[rng.random(3) < 0.1] = np.nan
        history.append(p)
        flags = flagger.update(["a", "b", "c"], p)
        recent = np.array(history[-10:])
        expected = (np.nan_to_num(recent, nan=-1) >= 90).sum(axis=0) >= 4
        assert flags.tolist() == expected.tolist()
        padded = np.vstack([np.full((10 - len(recent), 3), -np.inf), np.where(np.isnan(recent), -np.inf, recent)])
        assert np.array_equal(flagger.held_, np.sort(padded, axis=0)[-4])


def test_the_level_is_100_at_the_flag_line_and_low_on_ordinary_data():
    flagger = PersistenceFlagger(threshold=99.9, min_n=5, window_n=10)
    for _ in range(10):
        flagger.update(["line", "beyond", "none"], np.array([99.9, 100.0, np.nan]))
    assert np.allclose(flagger.levels(), [100.0, 200.0, 0.0])
    rng = np.random.default_rng(0)
    levels = []
    for _ in range(2000):
        flagger.update(["line", "beyond", "none"], rng.uniform(0, 100, size=3))
        levels.append(flagger.levels())
    levels = np.array(levels[10:])
    # uniform probabilities (ordinary data): the median held is about the median, about 10 on this scale
    assert 7 < np.median(levels) < 15 and levels.max() < 50


def test_compact_cdf_is_exact_in_the_tail_and_never_overstates_in_the_body():
    scores = np.random.default_rng(3).gamma(2.0, size=20000)
    calibrator = EmpiricalCalibrator(0.001).fit(scores)
    assert len(calibrator.scores_) <= 1000 + 200
    probes = np.concatenate([np.sort(scores)[-300:], np.linspace(0, scores.max() * 1.1, 500)])
    exact = 100.0 * np.searchsorted(np.sort(scores), probes, side="left") / len(scores)
    got = calibrator.probability(probes)
    seen = probes <= scores.max()
    assert np.all(got[seen] <= exact[seen] + 1e-9) and np.all(exact[seen] - got[seen] < 0.11)
    tail = seen & (probes >= np.quantile(scores, 0.99))
    np.testing.assert_allclose(got[tail], exact[tail])


def test_beyond_the_training_maximum_the_fitted_tail_keeps_ranking_scores():
    scores = np.random.default_rng(4).exponential(size=14400)
    calibrator = EmpiricalCalibrator(0.001).fit(scores)
    beyond = scores.max() + np.array([0.01, 0.5, 1.0, 2.0, 5.0, 10.0])
    got = calibrator.probability(beyond)
    at_max = 100.0 * (1 - 1 / len(scores))
    assert np.all(np.diff(got) > 0) and at_max < got[0] and got[-1] < 100.0
    # an exponential tail of scale ~1: 5 beyond the maximum is about e^5 times rarer than the maximum
    assert 50 < (100 - at_max) / (100 - got[4]) < 400


def test_probability_of_one_score_is_probability_bit_for_bit():
    """The per-cycle path's scalar probability_of gives exactly what probability gives: in the body, at kept
    points and between them, below the minimum, beyond the maximum (the fitted tail), for NaN and infinities."""
    rng = np.random.default_rng(5)
    for scores in (rng.gamma(2.0, size=300), np.round(rng.gamma(2.0, size=14400), 1), np.full(50, 3.0),
                   np.r_[np.zeros(99), 5.0], rng.pareto(1.5, size=3000)):
        calibrator = EmpiricalCalibrator(0.001).fit(scores)
        kept = calibrator.scores_
        probes = np.r_[kept, np.nextafter(kept, np.inf), np.nextafter(kept, -np.inf),
                       rng.uniform(-1, 2 * scores.max() + 1, 200), [np.nan, np.inf, -np.inf, 1e300]]
        expected = [calibrator.probability(np.float64(s)) for s in probes]
        got = [calibrator.probability_of(float(s)) for s in probes]
        np.testing.assert_array_equal(got, expected)


def test_a_score_training_saw_often_is_not_beyond_training():
    """A metric that barely moves: 99.95% of training scores are equal; seeing that score again is normal."""
    scores = np.concatenate([np.full(19990, 3.0), np.linspace(4, 5, 10)])
    calibrator = EmpiricalCalibrator(0.001).fit(scores)
    assert calibrator.probability(np.array([3.0]))[0] == 0.0
    assert 100.0 * (1 - 1 / len(scores)) < calibrator.probability(np.array([6.0]))[0] <= 100.0


def test_a_spike_rule_beside_the_held_one_flags_what_either_flags():
    config = parse_config({"flags_threshold": 99, "flags_min_n": 4, "flags_window_n": 5, "flags_min_models": 1,
                           "flags_spike_threshold": 99.99, "flags_spike_min_n": 2, "flags_spike_window_n": 3})
    flagger = flagger_for(config)
    assert isinstance(flagger, EitherFlagger)
    assert rule_text(config) == "for 4 of the last 5 updates, or at the higher bar of 99.99 for 2 of 3"
    # a short, very high spike: only the spike rule (2 of 3 at 99.99) holds
    seen = [flagger.update(["m"], np.array([p]))[0] for p in (50, 99.995, 99.995, 50, 50, 50, 50)]
    assert seen == [False, False, True, True, False, False, False]
    levels = flagger.levels()
    assert levels[0] == np.maximum(flagger.first.levels(), flagger.second.levels())[0]
    # a long, moderate rise: only the held rule (4 of 5 at 99)
    seen = [flagger.update(["m"], np.array([p]))[0] for p in (99.5, 99.5, 99.5, 99.5, 50)]
    assert seen == [False, False, False, True, True]
    assert flagger.levels()[0] >= 100  # the flag line of the rule that holds
    flagger.forget(["m"])
    assert flagger.first.names_ == flagger.second.names_ == []


def test_without_a_spike_threshold_the_rule_is_the_held_one_alone():
    for value in (None, "", "none", False):  # YAML reads `no` and `off` as False
        config = parse_config({"flags_spike_threshold": value, "flags_min_models": 1})
        assert config.problems == [] and config.flags_spike_threshold is None
        assert isinstance(flagger_for(config), PersistenceFlagger)
    broken = parse_config({"flags_spike_threshold": "high", "flags_spike_min_n": 6, "flags_spike_window_n": 5})
    assert broken.flags_spike_threshold is None and broken.flags_spike_min_n == 5
    assert [p.split(":")[0] for p in broken.problems] == ["flags_spike_threshold", "flags_spike_min_n"]


def test_the_long_hold_counts_only_once_the_models_were_trained_on_enough_history():
    """The long hold (an EitherFlagger's second rule): a level held at 98.5 for 6 cycles passes the long rule (98 on 6 of 6), not the first
    (99.5 on 3 of 5); before `note_training` says the models saw an hour, it is only recorded, then it flags
    at once (its history kept), and its level counts only from then."""
    config = parse_config({"flags_threshold": 99.5, "flags_min_n": 3, "flags_window_n": 5, "flags_min_models": 1,
                           "flags_long_threshold": 98, "flags_long_min_n": 6, "flags_long_window_n": 6,
                           "flags_long_after_secs": 3600})
    flagger = flagger_for(config)
    assert isinstance(flagger, EitherFlagger) and flagger.after_secs == 3600
    assert rule_text(config) == "for 3 of the last 5 updates, or at 98 for 6 of 6 once trained on 60 min"
    note_training(flagger, 3599.0)
    seen = [flagger.update(["m"], np.array([p]))[0] for p in [98.5] * 7]
    assert seen == [False] * 7 and flagger.levels()[0] < 100
    note_training(flagger, 3600.0)
    assert flagger.update(["m"], np.array([98.5]))[0] and flagger.levels()[0] >= 100
    assert not flagger.update(["m"], np.array([50.0]))[0]  # 5 of the last 6
    seen = [flagger.update(["m"], np.array([p]))[0] for p in (99.9, 99.9, 99.9, 50)]
    assert seen == [False, False, True, True]  # the first rule (3 of 5 at 99.5) still flags by itself
    flagger.forget(["m"])
    assert flagger.first.names_ == flagger.second.names_ == []


def test_the_long_hold_is_off_at_60_s_and_slower_and_note_training_reaches_it_under_the_rule_across_models():
    assert parse_config({"update_every": 60, "flags_long_threshold": None}).flags_long_threshold is None
    assert parse_config({"update_every": 60}).flags_long_threshold is None
    config = parse_config({"flags_long_threshold": 98, "flags_long_min_n": 40, "flags_long_window_n": 30,
                           "flags_min_models": 2})
    assert config.flags_long_min_n == 30 and config.problems[0].startswith("flags_long_min_n")
    flagger = flagger_for(config)
    assert isinstance(flagger, CorroboratedFlagger) and isinstance(flagger.own, EitherFlagger)
    note_training(flagger, 7200.0)
    assert flagger.own.trained_secs_ == 7200.0
    note_training(PersistenceFlagger(), 7200.0)  # a rule without a long hold has nothing to be told


def test_a_model_flagged_alone_waits_for_a_second_model_or_its_own_stricter_rule():
    """CorroboratedFlagger: a model's own rule (99.9 on 3 of 5) raises its flag only once a second model
    was flagged within 10 cycles, or once its lone rule (99.99 on 3 of 5) holds; then it lasts."""
    flagger = CorroboratedFlagger(PersistenceFlagger(99.9, 3, 5), PersistenceFlagger(99.99, 3, 5), 2, 10)
    names = ["a", "b", "c"]

    def run(rows):
        return [flagger.update(names, np.array(row, dtype=float)).astype(int).tolist() for row in rows]

    quiet, a_only = [50, 50, 50], [99.95, 50, 50]
    seen = run([a_only] * 4 + [quiet] * 12)  # "a" alone: its own rule holds from the 3rd cycle, no flag
    assert all(row == [0, 0, 0] for row in seen)
    assert flagger.levels()[0] < 100
    run([a_only] * 3)
    assert flagger.levels()[0] == CorroboratedFlagger.WAITING_LEVEL  # its own rule holds, the flag waits
    seen = run([[99.95, 99.95, 50]] * 3 + [[99.95, 50, 50]] * 3)
    assert seen[1] == [0, 0, 0] and seen[2] == [1, 1, 0]  # "b"'s own rule holds: both raised at once
    assert seen[-1] == [1, 0, 0]  # "a" stays raised while its own rule holds, "b" cleared
    run([quiet] * 12)
    seen = run([[99.995, 50, 50]] * 3)  # alone, but beyond the lone rule's bar
    assert seen[-1] == [1, 0, 0]
    flagger.forget(["a"])
    assert flagger.update(["b", "c"], np.array([50.0, 50.0])).tolist() == [False, False]
    assert flagger.names_ == ["b", "c"]


def test_the_rule_across_models_is_off_with_1_and_set_by_its_keys():
    assert isinstance(flagger_for(parse_config({"flags_min_models": 1})), PersistenceFlagger)
    config = parse_config({"flags_min_models": 2, "flags_alone_threshold": 99.99})
    flagger = flagger_for(config)
    assert isinstance(flagger, CorroboratedFlagger) and (flagger.min_models, flagger.window_n) == (2, 10)
    assert rule_text(config) == ("for 8 of the last 10 updates, with 1 more model of the job within 10 updates "
                                 "or alone at 99.99 for 3 of 5")
    assert "'" not in rule_text(parse_config({"flags_min_models": 3}))  # chart titles are single-quoted
    lonely = flagger_for(parse_config({"flags_min_models": 2, "flags_alone_threshold": "none"}))
    assert lonely.lone is None  # a model alone is never flagged ...
    seen = [lonely.update(["only"], np.array([100.0]))[0] for _ in range(8)]
    assert seen == [False] * 7 + [True]  # ... except in a job with fewer models than flags_min_models (8 of 10)
    broken = parse_config({"flags_min_models": 0, "flags_alone_min_n": 6})
    assert [p.split(":")[0] for p in broken.problems] == ["flags_min_models", "flags_alone_min_n"]
