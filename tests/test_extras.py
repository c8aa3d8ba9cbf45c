# SPDX-License-Identifier: GPL-3.0-or-later
"""A lean install (`install.sh --lean`: no pyod, scikit-learn, rrcf, pysad): the default models run without
those libraries, and a configuration naming a model that needs one gets one clear line and the default."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anomalies import config as offline_config
from anomalies.cycle import report_config_problems
from anomalies.extras import missing_library
from anomalies.models import LIBRARIES as OFFLINE_LIBRARIES
from anomalies_online import config as online_config
from anomalies_online.detectors import LIBRARIES as ONLINE_LIBRARIES

REPO = Path(__file__).resolve().parents[1]
FULL_ONLY = ("pyod", "sklearn", "scipy", "rrcf", "pysad", "pkg_resources", "numba", "matplotlib")


@pytest.fixture
def lean(monkeypatch):
    """importlib finds none of the libraries of the `full` extra."""
    find_spec = importlib.util.find_spec

    def lean_find_spec(name, *args, **kwargs):
        return None if name.partition(".")[0] in FULL_ONLY else find_spec(name, *args, **kwargs)
    monkeypatch.setattr(importlib.util, "find_spec", lean_find_spec)


class Log:
    def __init__(self):
        self.lines = []

    def error(self, message):
        self.lines.append(("error", message))

    def warning(self, message):
        self.lines.append(("warning", message))


def test_missing_library_message_says_how_to_add_it(lean):
    message = missing_library("hbos", OFFLINE_LIBRARIES)
    assert message.startswith("model 'hbos' needs pyod, which is not installed (a --lean install): run "
                              "./install.sh without --lean, or ")
    assert message.endswith("/bin/pip install 'pyod<4,>=1.1'") and "\n" not in message
    assert missing_library("hst", ONLINE_LIBRARIES).endswith("install 'pysad<0.8,>=0.7'")


def test_rrcf_without_pkg_resources_names_setuptools(monkeypatch):
    """rrcf imports pkg_resources, which setuptools 81 removed: the pip line pins setuptools."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pkg_resources" else find_spec(name, *args))
    message = missing_library("rrcf", ONLINE_LIBRARIES)
    assert message.startswith("model 'rrcf' needs pkg_resources") and message.endswith("install 'setuptools<81'")


@pytest.mark.parametrize("module, model, library, default", [
    (offline_config, "iforest", "pyod", offline_config.DEFAULTS["model"]),
    (online_config, "xstream", "pysad", "zscore"),
])
def test_a_model_without_its_library_gives_one_line_and_the_default(lean, module, model, library, default):
    config = module.parse_config({"model": model})
    assert config.model == default
    log = Log()
    report_config_problems(config, log)
    assert len(log.lines) == 1, log.lines
    level, line = log.lines[0]
    assert level == "error" and f"model '{model}' needs {library}, which is not installed" in line
    assert line.endswith(f"using default '{default}'")


def test_default_models_need_no_optional_library(lean):
    assert missing_library("pca", OFFLINE_LIBRARIES) is None
    assert missing_library("zscore", ONLINE_LIBRARIES) is None
    assert not offline_config.parse_config({}).problems and not online_config.parse_config({}).problems


def test_installed_libraries_pass():
    assert offline_config.parse_config({"model": "hbos"}).model == "hbos"
    online = online_config.parse_config({"model": "rrcf"})
    assert online.model == "rrcf" and not online.problems


# Import-blocks the `full` extra's libraries, then trains and scores the default models of both modules the
# way the jobs do (their modules, netdata-pandas and the feature code imported as the jobs import them).
LEAN_RUN = """
import sys
BLOCKED = {blocked!r}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError("blocked in a lean install: " + name)

sys.meta_path.insert(0, Block())
import numpy as np
import anomalies.job, anomalies.training, anomalies_online.job
from anomalies.models import fit_scorer
from anomalies.netdata_source import import_netdata_pandas
from anomalies_online.detectors import make_detector
from anomalies_online.config import parse_config

import_netdata_pandas()
rows = np.random.default_rng(0).normal(size=(300, 4))
for model in ("pca", "zscore", "zmax", "knn"):
    scorer, scores = fit_scorer(model, rows, 0.001)
    assert np.isfinite(scorer.score(rows[:5])).all() and len(scores) == 300, model
detector = make_detector(parse_config({{}}), 4)
assert np.isfinite(detector.score_learn_one(rows[0]))
loaded = sorted({{name.partition(".")[0] for name in sys.modules}} & BLOCKED)
assert not loaded, loaded
"""


def test_default_models_run_without_the_full_extra():
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(LEAN_RUN.format(blocked=set(FULL_ONLY)))],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
