# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np
import pytest

from anomalies.config import MODELS
from anomalies.features import FeatureSpec
from anomalies.models import build_detector, fit_scorer


def lagged_features(rng, n):
    """Netdata-like features: lags of smoothed differences of 3 correlated random walks (collinear-ish)."""
    walk = rng.normal(size=(n + 8, 1)).cumsum(axis=0) + rng.normal(size=(n + 8, 3)) * [0.1, 1.0, 5.0]
    return FeatureSpec(1, 3, 5).matrix(walk)


@pytest.mark.parametrize("make", [
    lambda rng, n: rng.normal(size=(n, 12)) @ rng.normal(size=(12, 12)),
    lagged_features,
])
def test_numpy_pca_is_pyods_pca(make):
    rng = np.random.default_rng(0)
    train = make(rng, 2000)
    test = make(rng, 50) * 3
    scorer, train_scores = fit_scorer("pca", train, 0.001)
    detector = build_detector("pca", 0.001).fit(train)
    np.testing.assert_allclose(scorer.score(test), detector.decision_function(test), rtol=1e-6)
    np.testing.assert_allclose(train_scores, detector.decision_scores_, rtol=1e-6)


@pytest.mark.parametrize("name", [m for m in MODELS if m != "cblof"])
def test_every_model_fits_and_ranks_an_outlier_above_normal_rows(name):
    rng = np.random.default_rng(1)
    train = rng.normal(size=(400, 6))
    scorer, train_scores = fit_scorer(name, train, 0.01)
    assert train_scores.shape == (400,) and np.isfinite(train_scores).all()
    scores = scorer.score(np.vstack([np.zeros(6), np.full(6, 8.0)]))
    assert scores[1] > scores[0]


def test_cblof_on_clustered_data():
    rng = np.random.default_rng(2)
    train = np.vstack([rng.normal(loc, 0.1, size=(n, 4)) for loc, n in ((0, 600), (5, 60), (10, 40))])
    scorer, _ = fit_scorer("cblof", train, 0.01)
    scores = scorer.score(np.vstack([np.zeros(4), np.full(4, 2.5)]))
    assert scores[1] > scores[0]


def test_pca_of_features_constant_in_training_scores_finite():
    """Every feature constant: no explained variance to divide by (it was 0 / 0, NaN weights and NaN
    scores); every component gets the floor weight, as in PyOD 1.0, and scores stay finite."""
    from anomalies.models import PcaScorer
    scorer = PcaScorer.fit(np.full((200, 3), 7.0))
    scores = scorer.score(np.array([[7.0, 7.0, 7.0], [7.0, 8.0, 7.0]]))
    assert np.isfinite(scores).all() and np.all(scorer.weights == 1e-6)


def test_zmax_scores_the_largest_absolute_z_of_a_row():
    rng = np.random.default_rng(3)
    train = rng.normal(loc=[0.0, 10.0, -5.0], scale=[1.0, 2.0, 0.5], size=(5000, 3))
    scorer, train_scores = fit_scorer("zmax", train, 0.001)
    np.testing.assert_allclose(train_scores, np.abs((train - train.mean(0)) / train.std(0)).max(axis=1))
    one_feature_off = np.array([[0.0, 10.0, -5.0 - 4 * 0.5]])  # 4 sd below on the third feature alone
    np.testing.assert_allclose(scorer.score(one_feature_off), [4.0], rtol=0.05)


def test_zmax_of_a_feature_constant_in_training_is_large_but_finite():
    """A counter that was always 0 and now reads 1 scores 1 / (1e-3 x (0 + 1)) = 1000."""
    rng = np.random.default_rng(4)
    train = np.column_stack([rng.normal(size=500), np.zeros(500)])
    scorer, _ = fit_scorer("zmax", train, 0.001)
    scores = scorer.score(np.array([[0.0, 0.0], [0.0, 1.0]]))
    assert np.isfinite(scores).all() and scores[0] < 1 and scores[1] == pytest.approx(1000.0)


def test_zscore_scores_the_mean_squared_z_of_a_row():
    rng = np.random.default_rng(5)
    train = rng.normal(loc=[0.0, 10.0, -5.0, 3.0], scale=[1.0, 2.0, 0.5, 4.0], size=(5000, 4))
    scorer, train_scores = fit_scorer("zscore", train, 0.001)
    np.testing.assert_allclose(train_scores, (((train - train.mean(0)) / train.std(0)) ** 2).mean(axis=1))
    one_feature_off = np.array([[0.0, 10.0, -5.0 - 4 * 0.5, 3.0]])  # 4 sd below on the third feature alone
    np.testing.assert_allclose(scorer.score(one_feature_off), [16.0 / 4], rtol=0.05)
    two_features_off = np.array([[4.0, 10.0, -5.0 - 4 * 0.5, 3.0]])  # and 4 sd above on the first
    assert scorer.score(two_features_off)[0] == pytest.approx(2 * scorer.score(one_feature_off)[0], rel=0.05)


def test_knn_training_scores_leave_out_each_rows_own_neighbourhood():
    """Every training row's score is the mean distance to its k nearest references more than exclusion_n
    rows away (checked by brute force, across the scorer's chunk boundaries), and a new row's score uses
    every reference."""
    from anomalies.models import KnnScorer
    rng = np.random.default_rng(4)
    train = rng.normal(size=(1300, 3)).cumsum(axis=0)  # a random walk: a row's neighbours in time are nearest
    scorer = KnnScorer(n_neighbors=3, max_references=400, exclusion_n=10).fit(train)
    z = (train - scorer.mean_) / scorer.scale_
    positions = np.arange(0, 1300, 4)
    assert np.array_equal(scorer.references_, z[positions])
    for i in (0, 7, 511, 512, 1299):
        far = positions[np.abs(positions - i) > 10]
        distances = np.sort(np.sqrt(((z[far] - z[i]) ** 2).sum(axis=1)))
        assert scorer.training_scores_[i] == pytest.approx(distances[:3].mean(), rel=1e-9)
    row = train[600] + 0.5
    distances = np.sort(np.sqrt(((z[positions] - (row - scorer.mean_) / scorer.scale_) ** 2).sum(axis=1)))
    assert scorer.score(row[None, :])[0] == pytest.approx(distances[:3].mean(), rel=1e-9)


def test_knn_on_a_window_shorter_than_its_exclusion_still_scores_every_training_row():
    """When fewer than n_neighbors references lie outside a row's neighbourhood (a training window of a few
    minutes), that row is scored against every reference rather than given an infinite score."""
    from anomalies.models import KnnScorer
    train = np.random.default_rng(6).normal(size=(100, 2))
    scorer = KnnScorer(n_neighbors=5, exclusion_n=60).fit(train)
    assert np.isfinite(scorer.training_scores_).all()
    assert scorer.training_scores_[50] == pytest.approx(scorer.score(train[50:51])[0], rel=1e-9)


def test_knn_scores_a_burst_that_recurred_in_training_below_a_new_one():
    """The point of knn: a burst the training window saw six times is near rows it saw, so it scores far
    below a new burst of the same size in another feature; zscore, which measures the distance from the
    training mean, scores the two alike."""
    rng = np.random.default_rng(5)
    train = rng.normal(size=(3600, 4))
    for start in range(300, 3600, 600):
        train[start:start + 10, 0] += 8.0
    seen, new = np.zeros((1, 4)), np.zeros((1, 4))
    seen[0, 0] = new[0, 1] = 8.0
    knn, _ = fit_scorer("knn", train, 0.001)
    zscore, _ = fit_scorer("zscore", train, 0.001)
    assert knn.score(new)[0] > 2 * knn.score(seen)[0]
    assert zscore.score(new)[0] < 3 * zscore.score(seen)[0]


def test_zscore_with_a_long_level_group_counts_that_group_in_full():
    """A long level far out among many quiet features: the plain mean dilutes it, the grouped score does not."""
    rng = np.random.default_rng(6)
    train = rng.normal(size=(5000, 41))
    groups = np.array([0] * 40 + [1])
    scorer, train_scores = fit_scorer("zscore", train, 0.001, groups=groups)
    plain, plain_scores = fit_scorer("zscore", train, 0.001)
    np.testing.assert_allclose(train_scores, scorer.score(train))
    scale = np.quantile(((train - train.mean(0)) / train.std(0)) ** 2, 0.99, axis=0)[40]
    assert scorer.group_scale[1] == pytest.approx(scale)
    plateau = np.zeros((1, 41))
    plateau[0, 40] = 8.0  # the long level 8 sd out, everything else at its mean
    assert plain.score(plateau)[0] < np.quantile(plain_scores, 0.999)  # 64 / 41: lost among the rest
    assert scorer.score(plateau)[0] > train_scores.max()
    parts = scorer.feature_parts(plateau)[0]
    assert parts[:40].sum() == 0 and parts[40] == pytest.approx(scorer.score(plateau)[0])
    with pytest.raises(ValueError):
        fit_scorer("zscore", train, 0.001, groups=np.array([0, 1] * 20 + [0]))  # groups must be contiguous
