# SPDX-License-Identifier: GPL-3.0-or-later
"""The charts every job draws and the ids of their dimensions (the per-model ones as upstream named them).

- `anomaly_rate` (first): the share of models flagged right now, and the share still warming up;
- `probability`: per model its anomaly level, 100 = the flag line (see `PersistenceFlagger.levels`);
- `anomaly`: per model its flag, 0 or 1;
- `score`: per model its score relative to its threshold, above 1 on a log scale (`compressed_score`);
- the job's own health (`health.py`), last.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from . import health

RATE, PROBABILITY, ANOMALY, SCORE = "anomaly_rate", "probability", "anomaly", "score"
MODEL_CHARTS = [PROBABILITY, ANOMALY, SCORE]  # one dimension per model on each
ORDER = [RATE] + MODEL_CHARTS + health.HEALTH_CHARTS
AVERAGE_PROB, ANOMALY_RATE, WARMING_UP = "average_prob", "anomaly_rate", "warming_up"
VALUE_DIVISOR = 100  # levels, rates and scores are sent as integers x100: two decimals in the dashboard
FAMILY = "anomalies"


def definitions(context_prefix: str, include_average_prob: bool, held_for: str,
                threshold_meaning: str) -> Tuple[List[str], Dict[str, dict]]:
    """python.d chart order and definitions; per-model dimensions are added as models start.
    `held_for` says how long the level's probability was held (the flag rule, `flags.rule_text`);
    `threshold_meaning` says what a score of 1 is (the training threshold, or that of recent scores)."""
    average = [[AVERAGE_PROB, "average", "absolute", 1, VALUE_DIVISOR]] if include_average_prob else []
    charts = {
        RATE: {
            "options": [None, "Anomaly rate: share of models flagged now (and of models still warming up)",
                        "%", FAMILY, f"{context_prefix}.{RATE}", "line"],
            "lines": [[ANOMALY_RATE, "flagged", "absolute", 1, VALUE_DIVISOR],
                      [WARMING_UP, "warming up", "absolute", 1, VALUE_DIVISOR]],
        },
        PROBABILITY: {
            "options": [None, f"Anomaly level: how unusual each model was {held_for} (100 = flagged, about "
                              "10 is ordinary)",
                        "% of flag level", FAMILY, f"{context_prefix}.{PROBABILITY}", "line"],
            "lines": average,
        },
        ANOMALY: {
            "options": [None, "Anomaly flags (1 = flagged)", "flag", FAMILY, f"{context_prefix}.{ANOMALY}",
                        "stacked"],
            "lines": [],
        },
        SCORE: {
            "options": [None, f"Anomaly score (1 = {threshold_meaning}; above 1 in powers of ten: 2 = 10 "
                              "times it, 3 = 100 times)", "score", FAMILY, f"{context_prefix}.{SCORE}", "line"],
            "lines": [],
        },
    }
    charts.update(health.definitions(context_prefix, FAMILY))
    return list(ORDER), charts


def dimension_id(model_name: str, chart: str) -> str:
    """`<model>_prob`, `<model>_anomaly` or `<model>_score`."""
    return f"{model_name}_{'prob' if chart == PROBABILITY else chart}"


def model_dimensions(model_name: str) -> List[Tuple[str, list]]:
    """(chart, python.d dimension definition) for one model on each per-model chart."""
    return [(chart, [dimension_id(model_name, chart), model_name, "absolute", 1,
                     1 if chart == ANOMALY else VALUE_DIVISOR])
            for chart in MODEL_CHARTS]


def compressed_score(normalized: np.ndarray) -> np.ndarray:
    """A score relative to its threshold as the score chart draws it: unchanged up to 1, then 1 + log10 of
    it, so that one spike (scores reach thousands) cannot flatten the rest and the 1 line stays visible."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(normalized > 1.0, 1.0 + np.log10(np.maximum(normalized, 1.0)), normalized)
