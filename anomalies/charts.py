# SPDX-License-Identifier: GPL-3.0-or-later
"""The three charts every job draws and the ids of their dimensions (as upstream named them)."""
from __future__ import annotations

from typing import Dict, List, Tuple

PROBABILITY, ANOMALY, SCORE = "probability", "anomaly", "score"
ORDER = [PROBABILITY, ANOMALY, SCORE]
AVERAGE_PROB, ANOMALY_RATE = "average_prob", "anomaly_rate"
VALUE_DIVISOR = 100  # probabilities and scores are sent as integers x100: two decimals in the dashboard


def definitions(context_prefix: str, include_average_prob: bool) -> Tuple[List[str], Dict[str, dict]]:
    """python.d chart order and definitions; per-model dimensions are added as models are trained."""
    fixed = [[AVERAGE_PROB, AVERAGE_PROB, "absolute", 1, VALUE_DIVISOR]] if include_average_prob else []
    fixed.append([ANOMALY_RATE, ANOMALY_RATE, "absolute", 1, VALUE_DIVISOR])
    charts = {
        PROBABILITY: {
            "options": [None, "Anomaly Probability", "probability", "anomalies",
                        f"{context_prefix}.probability", "line"],
            "lines": fixed,
        },
        ANOMALY: {
            "options": [None, "Anomaly", "count", "anomalies", f"{context_prefix}.anomaly", "stacked"],
            "lines": [],
        },
        SCORE: {
            "options": [None, "Anomaly Score (1 = training threshold)", "score", "anomalies",
                        f"{context_prefix}.score", "line"],
            "lines": [],
        },
    }
    return list(ORDER), charts


def dimension_id(model_name: str, chart: str) -> str:
    """`<model>_prob`, `<model>_anomaly` or `<model>_score`."""
    return f"{model_name}_{'prob' if chart == PROBABILITY else chart}"


def model_dimensions(model_name: str) -> List[Tuple[str, list]]:
    """(chart, python.d dimension definition) for one model on each chart."""
    return [(chart, [dimension_id(model_name, chart), dimension_id(model_name, chart), "absolute", 1,
                     1 if chart == ANOMALY else VALUE_DIVISOR])
            for chart in ORDER]
