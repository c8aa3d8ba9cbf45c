# SPDX-License-Identifier: GPL-3.0-or-later
import numpy as np
import pytest

from anomalies.features import FeatureSpec, FeatureWindow


def naive_features(values, diffs_n, smooth_n, lags_n):
    """Straight from the definition, one time and one column at a time."""
    x = values.copy()
    for _ in range(diffs_n):
        x = x[1:] - x[:-1]
    s = np.array([x[t - smooth_n + 1:t + 1].mean(axis=0) for t in range(smooth_n - 1, len(x))])
    return np.array([np.concatenate([s[t - k] for k in range(lags_n + 1)]) for t in range(lags_n, len(s))])


@pytest.mark.parametrize("diffs_n,smooth_n,lags_n", [(1, 3, 5), (0, 1, 0), (2, 4, 2), (0, 2, 3)])
def test_matrix_matches_definition(diffs_n, smooth_n, lags_n):
    values = np.random.default_rng(1).normal(size=(40, 3)).cumsum(axis=0)
    spec = FeatureSpec(diffs_n, smooth_n, lags_n)
    expected = naive_features(values, diffs_n, smooth_n, lags_n)
    got = spec.matrix(values)
    assert got.shape == expected.shape == (40 - spec.window + 1, 3 * (lags_n + 1))
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("diffs_n,smooth_n,lags_n", [(1, 3, 5), (0, 1, 0), (2, 4, 2)])
def test_levels_add_the_moving_average_of_the_raw_values_as_a_last_block(diffs_n, smooth_n, lags_n):
    values = np.random.default_rng(4).normal(size=(40, 3)).cumsum(axis=0)
    spec = FeatureSpec(diffs_n, smooth_n, lags_n, levels=True)
    got = spec.matrix(values)
    rows = 40 - spec.window + 1
    levels = np.array([values[t - smooth_n + 1:t + 1].mean(axis=0) for t in range(40 - rows, 40)])
    np.testing.assert_allclose(got, np.hstack([naive_features(values, diffs_n, smooth_n, lags_n), levels]))
    columns = [2, 0]
    np.testing.assert_allclose(got[:, spec.feature_index(columns, 3)], spec.matrix(values[:, columns]))
    window = FeatureWindow(spec, values[:spec.window - 1])
    for t in range(spec.window - 1, 40):
        np.testing.assert_allclose(window.push(values[t]), got[t - spec.window + 1])


def test_feature_index_selects_the_same_features_as_computing_on_the_columns_alone():
    values = np.random.default_rng(2).normal(size=(30, 5))
    spec = FeatureSpec(1, 3, 5)
    columns = [3, 0]
    full = spec.matrix(values)
    np.testing.assert_allclose(full[:, spec.feature_index(columns, 5)], spec.matrix(values[:, columns]))


def test_window_gives_the_newest_row_of_the_batch_features():
    values = np.random.default_rng(3).normal(size=(50, 4))
    spec = FeatureSpec(1, 3, 5)
    window = FeatureWindow(spec, values[:spec.window - 1])
    batch = spec.matrix(values)
    for t in range(spec.window - 1, 50):
        np.testing.assert_allclose(window.push(values[t]), batch[t - spec.window + 1])


def test_window_waits_for_enough_rows_and_carries_missing_values_forward():
    spec = FeatureSpec(1, 1, 0)
    window = FeatureWindow(spec, np.empty((0, 2)))
    assert window.push(np.array([1.0, 10.0])) is None
    np.testing.assert_allclose(window.push(np.array([2.0, np.nan])), [1.0, 0.0])
    np.testing.assert_allclose(window.push(np.array([np.inf, 13.0])), [0.0, 3.0])


def test_missing_value_in_history_only_spoils_nearby_rows():
    values = np.arange(30, dtype=float)[:, None] * np.ones((1, 2))
    values[:3, 1] = np.nan
    features = FeatureSpec(1, 3, 0).matrix(values)
    assert np.isnan(features[:3, 1]).all() and np.isfinite(features[3:]).all()


def test_a_restarted_window_forgets_the_rows_before_the_gap():
    spec = FeatureSpec(1, 1, 0)
    window = FeatureWindow(spec, np.array([[1.0, 5.0], [2.0, 6.0]]))
    window.restart()
    assert window.push(np.array([100.0, np.nan])) is None  # no difference with a row from before the gap
    assert np.isnan(window.push(np.array([101.0, np.nan]))[1])  # nothing carried over the gap either


def test_a_missing_value_right_after_the_seed_takes_the_seeds_last_value():
    """A model trained just now starts from the training window's last rows: a value missing in the next
    cycle is carried from them, so no feature row of the next window is spoiled (else ~9 cycles are)."""
    spec = FeatureSpec(1, 3, 5)
    values = np.random.default_rng(4).normal(size=(40, 3)).cumsum(axis=0)
    window = FeatureWindow(spec, values[:30])
    missing = values[30].copy()
    missing[1] = np.nan
    rows = [window.push(row) for row in [missing] + list(values[31:])]
    assert all(np.isfinite(row).all() for row in rows)


@pytest.mark.parametrize("long_level_n", [4, 12])
def test_a_long_level_is_the_mean_of_the_last_n_raw_values_in_a_block_of_its_own(long_level_n):
    values = np.random.default_rng(5).normal(size=(40, 3)).cumsum(axis=0)
    spec = FeatureSpec(1, 3, 2, levels=True, long_level_n=long_level_n)
    assert spec.window == max(1 + 3 + 2, long_level_n) and spec.blocks == 5
    got = spec.matrix(values)
    rows = 40 - spec.window + 1
    short = FeatureSpec(1, 3, 2, levels=True).matrix(values)[-rows:]
    long = np.array([values[t - long_level_n + 1:t + 1].mean(axis=0) for t in range(40 - rows, 40)])
    np.testing.assert_allclose(got, np.hstack([short, long]))
    columns = [2, 0]
    index = spec.feature_index(columns, 3)
    np.testing.assert_allclose(got[:, index], spec.matrix(values[:, columns]))
    assert list(spec.feature_groups(index, 3)) == [0] * 8 + [1] * 2
    window = FeatureWindow(spec, values[:spec.window - 1])
    for t in range(spec.window - 1, 40):
        np.testing.assert_allclose(window.push(values[t]), got[t - spec.window + 1])


def test_level_features_are_the_blocks_after_the_lagged_differences():
    spec = FeatureSpec(1, 3, 2, levels=True, long_level_n=10)
    assert spec.level_features(2).astype(int).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert not FeatureSpec(1, 3, 2).level_features(3).any()


def test_a_model_trained_on_a_window_shorter_than_levels_after_secs_scores_differences_only():
    """levels_after_secs: a young window's model leaves out the level features (a drifting level it has not
    seen the range of flags for as long as the drift goes on); a window that spans it keeps them."""
    from anomalies.columns import Column
    from anomalies.config import parse_config
    from anomalies.planning import ModelSpec
    from anomalies.training import train_models

    columns = [Column("h", "system.load", dim) for dim in ("load1", "load5")]
    values = np.random.default_rng(3).normal(size=(1200, 2)).cumsum(axis=0)
    config = parse_config({"levels_after_secs": 1800, "min_train_secs": 60})
    spec = FeatureSpec.from_config(config)
    levels = set(spec.feature_index([0, 1], 2)[spec.level_features(2)].tolist())
    for rows, has_levels in ((1200, False), (1800, True)):
        window = np.vstack([values, values[-1] + values[:rows - 1200]]) if rows > 1200 else values
        state = train_models([ModelSpec("system.load", tuple(columns))], columns, window, config, lambda _: None)
        used = set(state.bank.models[0].feature_index.tolist())
        assert bool(used & levels) is has_levels and used - levels
