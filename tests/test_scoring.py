# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np

from anomalies.calibration import EmpiricalCalibrator
from anomalies.features import FeatureSpec
from anomalies.flags import PersistenceFlagger
from anomalies.models import fit_scorer
from anomalies.scoring import ModelBank, TrainedModel, score_cycle


def trained(name, model, columns, values, spec, n_columns, normalize=False):
    features = spec.matrix(values[:, columns])
    feature_min = feature_span = None
    if normalize:
        feature_min, feature_span = features.min(axis=0), np.ptp(features, axis=0)
        features = (features - feature_min) / feature_span
    feature_index = spec.feature_index(columns, n_columns)
    scorer, train_scores = fit_scorer(model, features, 0.01, groups=spec.feature_groups(feature_index, n_columns))
    return TrainedModel(name, np.array(columns), feature_index, scorer,
                        EmpiricalCalibrator(0.01).fit(train_scores), feature_min, feature_span)


def test_bank_scores_every_model_as_its_own_scorer_does():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(400, 6)).cumsum(axis=0)
    spec = FeatureSpec(1, 3, 5)
    models = [trained("a", "pca", [0, 1], values, spec, 6), trained("b", "hbos", [2], values, spec, 6),
              trained("c", "pca", [3, 4, 5], values, spec, 6, normalize=True),
              trained("d", "pca", [5, 0], values, spec, 6), trained("e", "zmax", [1, 2], values, spec, 6),
              trained("f", "zmax", [4], values, spec, 6), trained("g", "zmax", [0, 3, 5], values, spec, 6,
                                                                  normalize=True),
              trained("h", "zscore", [2, 3], values, spec, 6), trained("i", "zscore", [5], values, spec, 6),
              trained("j", "zscore", [0, 1, 4], values, spec, 6, normalize=True)]
    bank = ModelBank(models)
    for row in spec.matrix(rng.normal(size=(30, 6)).cumsum(axis=0) * 3):
        expected = [m.scorer.score(m.features(row))[0] for m in models]
        np.testing.assert_allclose(bank.raw_scores(row), expected, rtol=1e-9)
    raw = bank.raw_scores(row)
    np.testing.assert_allclose(bank.probabilities(raw),
                               [m.calibrator.probability(np.array([s]))[0] for m, s in zip(models, raw)])
    np.testing.assert_allclose(bank.normalized(raw),
                               [m.calibrator.normalized(np.array([s]))[0] for m, s in zip(models, raw)])


def test_a_model_is_complete_only_when_all_its_columns_are_fresh():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(200, 4))
    spec = FeatureSpec(0, 1, 0)
    bank = ModelBank([trained("x", "pca", [0, 1], values, spec, 4), trained("y", "pca", [2], values, spec, 4),
                      trained("z", "pca", [1, 3], values, spec, 4)])
    assert bank.complete(np.array([True, False, True, True])).tolist() == [False, True, False]


def _bank_and_rows():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(300, 3)).cumsum(axis=0)
    spec = FeatureSpec(1, 3, 5)
    bank = ModelBank([trained("x", "pca", [0, 1], values, spec, 3), trained("y", "pca", [2], values, spec, 3)])
    return bank, spec.matrix(values)


def test_a_model_missing_a_column_has_no_score_this_cycle():
    """Its raw score (from features carried forward) is masked: no normalised score, not complete; the
    other model scores as usual."""
    bank, features = _bank_and_rows()
    cycle = score_cycle(bank, PersistenceFlagger(99.0, 1, 1), features[-1] * 50, np.array([True, False, True]))
    assert cycle.complete.tolist() == [False, True]
    assert np.isnan(cycle.normalized[0]) and np.isfinite(cycle.normalized[1])
    assert cycle.probabilities[1] == 100.0 and cycle.flags[1]


def test_cycles_without_complete_input_do_not_raise_a_flag_later():
    bank, features = _bank_and_rows()
    flagger = PersistenceFlagger(99.9, 5, 10)
    paused = [score_cycle(bank, flagger, features[-1], np.array([False, True, True])) for _ in range(6)]
    back = score_cycle(bank, flagger, features[-1], np.array([True, True, True]))  # an ordinary row
    assert back.probabilities[0] < 99.9
    assert np.isnan(paused[-1].probabilities[0]) and not back.flags[0]


def test_bank_scores_zscore_models_with_long_levels_as_their_own_scorers_do():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(400, 5)).cumsum(axis=0)
    spec = FeatureSpec(1, 3, 2, levels=True, long_level_n=20)
    models = [trained("a", "zscore", [0, 1], values, spec, 5), trained("b", "zscore", [4], values, spec, 5),
              trained("c", "zscore", [2, 3, 0], values, spec, 5, normalize=True)]
    assert all(len(m.scorer.group_starts) == 2 for m in models)
    plain = trained("d", "zscore", [1, 2], values, FeatureSpec(1, 3, 2, levels=True), 5)
    plain.feature_index = spec.feature_index([1, 2], 5)[:-2]  # the same features without the long level
    models.append(plain)
    bank = ModelBank(models)
    for row in spec.matrix(rng.normal(size=(60, 5)).cumsum(axis=0) * 3):
        expected = [m.scorer.score(m.features(row))[0] for m in models]
        np.testing.assert_allclose(bank.raw_scores(row), expected, rtol=1e-9)
