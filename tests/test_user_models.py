# SPDX-License-Identifier: GPL-3.0-or-later
"""`model: 'package.module:Class'` and `model_args` in both modules (anomalies/user_models.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from anomalies.columns import Column
from anomalies.config import DEFAULTS, parse_config
from anomalies.features import FeatureSpec
from anomalies.models import PyodScorer
from anomalies.planning import ModelSpec
from anomalies.state_store import StateStore
from anomalies.training import train_models
from anomalies_online.config import parse_config as parse_online
from anomalies_online.detectors import UserDetector, ZScoreDetector
from anomalies_online.stream import StreamingBank, stream_cycle
from anomalies.flags import PersistenceFlagger

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="a model_path must belong to root")


class Log:
    def __init__(self):
        self.lines = []

    def info(self, *msg):
        self.lines.append(" ".join(map(str, msg)))

    warning = error = debug = info


def training_data(rows=600, columns=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(rows, columns)), axis=0) * 0.1 + 10


def train(config, values):
    cols = [Column(config.host, "app.x", f"d{i}") for i in range(values.shape[1])]
    warnings = []
    state = train_models([ModelSpec("app.x", tuple(cols))], cols, values, config, warnings.append)
    return state, warnings


def test_a_pyod_detector_by_class_name_with_model_args():
    config = parse_config({"model": "pyod.models.knn:KNN", "model_args": {"n_neighbors": 7}})
    assert config.problems == [] and config.model == "pyod.models.knn:KNN"
    state, warnings = train(config, training_data())
    assert warnings == []
    scorer = state.bank.models[0].scorer
    assert isinstance(scorer, PyodScorer) and type(scorer.detector).__name__ == "KNN"
    assert scorer.detector.n_neighbors == 7


def test_model_args_reach_a_built_in_pyod_model_and_pca_refuses_them():
    config = parse_config({"model": "iforest", "model_args": {"n_estimators": 13}})
    state, _ = train(config, training_data())
    assert state.bank.models[0].scorer.detector.n_estimators == 13
    config = parse_config({"model": "pca", "model_args": {"n_components": 2}})
    assert config.model_args == {} and config.problems == ["model_args: the built-in pca takes no model_args; "
                                                           "ignoring them"]
    online = parse_online({"model": "rrcf", "model_args": {"num_trees": 3}})
    assert online.model_args == {} and online.problems == ["model_args: the built-in rrcf takes no model_args; "
                                                           "ignoring them"]
    assert "model_args: invalid value" in parse_config({"model_args": "n=3"}).problems[0]


def test_knn_takes_its_own_model_args_and_names_the_others_once():
    """knn's n_neighbors reaches the scorer; an unknown key or a value that is not a positive whole number
    is one problem line at configuration, and training warns about nothing."""
    config = parse_config({"model": "knn", "model_args": {"n_neighbors": 3, "neighbours": 4, "exclusion_n": -1}})
    assert config.model_args == {"n_neighbors": 3}
    assert config.problems == ["model_args: knn takes n_neighbors, max_references, exclusion_n (positive whole "
                               "numbers); ignoring exclusion_n, neighbours"]
    state, warnings = train(config, training_data())
    assert warnings == [] and state.bank.models[0].scorer.n_neighbors == 3


@root_only
def test_the_readme_example_class_is_loaded_from_model_path_and_scores(model_path):
    config = parse_config({"model": "my_detectors:FarFromMedian", "model_path": model_path,
                           "model_args": {"floor": 0.001}})
    assert config.problems == []
    values = training_data()
    state, warnings = train(config, values)
    assert warnings == [] and type(state.bank.models[0].scorer.detector).__name__ == "FarFromMedian"
    spec = FeatureSpec.from_config(config)
    features = spec.matrix(values)
    model = state.bank.models[0]
    normal = model.scorer.score(model.features(features[-1]))[0]
    odd = features[-1].copy()
    odd[model.feature_index[0]] += 50
    assert model.scorer.score(model.features(odd))[0] > 10 * normal


@root_only
@pytest.mark.parametrize("model, message", [
    ("my_detectors:NoScore", "is not a class with fit and decision_function (it lacks decision_function)"),
    ("my_detectors:Missing", "my_detectors has no Missing"),
    ("no_such_package.mod:X", "cannot import no_such_package.mod: no such module"),
    ("test_user_models:Log", "only code in the product's venv or in model_path"),  # importable, not allowed
])
def test_a_class_that_cannot_be_used_is_one_line_and_the_default(model_path, model, message):
    config = parse_config({"model": model, "model_path": model_path})
    assert config.model == DEFAULTS["model"] and len(config.problems) == 1
    assert config.problems[0].startswith(f"model: cannot use '{model}'") and message in config.problems[0]
    assert config.problems[0].endswith(f"using default '{DEFAULTS['model']}'")


def test_a_model_path_others_can_write_is_refused(tmp_path):
    config = parse_config({"model": "my_detectors:FarFromMedian", "model_path": str(tmp_path)})
    assert config.model == DEFAULTS["model"] and config.model_path is None
    assert any(p.startswith("model_path: invalid value") and "can be written by someone other than root" in p
               for p in config.problems), config.problems


@root_only
@pytest.mark.parametrize("model, reason", [("my_detectors:FailsToFit", "cannot fit this"),
                                           ("my_detectors:NanScores", "not one finite number per row")])
def test_a_class_that_fails_to_fit_or_scores_nan_falls_back_to_the_default(model_path, model, reason):
    config = parse_config({"model": model, "model_path": model_path})
    assert config.problems == []
    state, warnings = train(config, training_data())
    assert len(warnings) == 1 and reason in warnings[0] and warnings[0].endswith(f"using {DEFAULTS['model']} instead")
    assert len(state.bank.models) == 1  # the model runs, as the default


@root_only
def test_streaming_a_river_style_class_from_model_path(model_path):
    config = parse_online({"model": "my_detectors:RunningDistance", "model_path": model_path,
                           "model_args": {"alpha": 0.05}, "warmup_n": 20})
    assert config.problems == []
    bank, flagger = stream_bank(config)
    detector = bank.models[0].detector
    assert isinstance(detector, UserDetector) and detector.model.alpha == 0.05
    run_stream(bank, flagger, 200)
    assert bank.problems == [] and detector.failure_ is None and detector.model.mean


@root_only
def test_a_streaming_class_that_raises_is_said_once_and_replaced_by_zscore(model_path):
    config = parse_online({"model": "my_detectors:FailsAfter", "model_path": model_path, "warmup_n": 20})
    bank, flagger = stream_bank(config)
    probabilities = run_stream(bank, flagger, 200)
    assert bank.problems == ["model: my_detectors:FailsAfter of model 'app.x' failed (ZeroDivisionError: it "
                             "broke); it uses the default zscore from now on"]
    assert isinstance(bank.models[0].detector.fallback_, ZScoreDetector)
    assert np.isfinite(probabilities[-50:]).all()  # and it keeps scoring


@root_only
def test_a_streaming_class_whose_constructor_fails_is_one_line(model_path):
    config = parse_online({"model": "my_detectors:RunningDistance", "model_path": model_path,
                           "model_args": {"beta": 1}})
    bank, _ = stream_bank(config)
    assert len(bank.problems) == 1 and "unexpected keyword argument 'beta'" in bank.problems[0]
    assert bank.problems[0].endswith("1 models use the default zscore instead")
    assert isinstance(bank.models[0].detector, ZScoreDetector)


@root_only
def test_saved_models_of_a_user_class_load_only_when_the_conf_names_it(model_path, tmp_path):
    config = parse_config({"model": "my_detectors:FarFromMedian", "model_path": model_path})
    state, _ = train(config, training_data())
    log = Log()
    StateStore(str(tmp_path / "state"), "job", log, config.model).save("f", state)
    assert StateStore(str(tmp_path / "state"), "job", log, config.model).load("f") is not None
    assert StateStore(str(tmp_path / "state"), "job", log).load("f") is None  # a conf that does not name it
    assert "my_detectors.FarFromMedian is not allowed in a state file" in log.lines[-1]


def stream_bank(config):
    spec = FeatureSpec.from_config(config)
    bank = StreamingBank(config, spec)
    cols = tuple(Column(config.host, "app.x", f"d{i}") for i in range(2))
    bank.replan([ModelSpec("app.x", cols)])
    return bank, PersistenceFlagger(config.flags_threshold, config.flags_min_n, config.flags_window_n)


def run_stream(bank, flagger, n):
    spec = bank.feature_spec
    values = training_data(n + spec.window, 2)
    features = spec.matrix(values)
    probabilities = []
    for row in features:
        cycle = stream_cycle(bank, flagger, row, np.ones(2, dtype=bool))
        probabilities.append(cycle.probabilities[0])
    return np.array(probabilities)


def test_a_chart_younger_than_min_train_secs_waits_while_the_others_train():
    """A chart that appeared minutes ago (a new disk, a mount) in a window of hours is not trained on its first
    minutes, which would flag whatever it does next: it waits, with one line, as a young agent does."""
    config = parse_config({})  # min_train_secs 900 at 1 s
    values = training_data(rows=3600, columns=4)
    values[:3000, 3] = np.nan  # the fourth column's chart appeared 10 minutes ago
    old = [Column(config.host, "app.x", f"d{i}") for i in range(3)]
    new = [Column(config.host, "disk_space.new", "used")]
    warnings = []
    state = train_models([ModelSpec("app.x", tuple(old)), ModelSpec("disk_space.new", tuple(new))], old + new,
                         values, config, warnings.append)
    assert state.bank.names == ["app.x"]
    assert len(warnings) == 1 and "disk_space.new" in warnings[0] and "min_train_secs" in warnings[0]
    values[:2400, 3] = np.nan  # 1,200 rows: more than min_train_secs' 900, so it is trained
    values[2400:, 3] = values[2400:, 0]
    state = train_models([ModelSpec("app.x", tuple(old)), ModelSpec("disk_space.new", tuple(new))], old + new,
                         values, config, warnings.append)
    assert state.bank.names == ["app.x", "disk_space.new"]
    # a short window (a young agent, or a test's) asks no more than it holds
    short = training_data(rows=300, columns=3)
    assert train_models([ModelSpec("app.x", tuple(old))], old, short, config, warnings.append).bank.names == ["app.x"]


def test_a_dimension_that_holds_one_value_is_constant_though_its_mean_rounds():
    """A filesystem's free space that holds one value (11.7633 GiB) has a standard deviation of 1.8e-15 by the
    rounding of its mean: it is constant all the same, so a chart of such dimensions is not trained (trained,
    its scores were rounding noise and the next one above them flagged it for good, on a real agent)."""
    config = parse_config({})
    values = training_data(rows=900, columns=3)
    values[:, 2] = 11.7633
    assert values[:, 2].std() > 0  # what the check must not trust
    steady = [Column(config.host, "disk_space._dev", "avail")]
    moving = [Column(config.host, "app.x", f"d{i}") for i in range(2)]
    warnings = []
    state = train_models([ModelSpec("app.x", tuple(moving)), ModelSpec("disk_space._dev", tuple(steady))],
                         moving + steady, values, config, warnings.append)
    assert state.bank.names == ["app.x"]
    assert any("constant during the training window" in w and "disk_space._dev" in w for w in warnings)
