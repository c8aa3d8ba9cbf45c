# SPDX-License-Identifier: GPL-3.0-or-later
"""Flag rules across the charts of one node, tried on the per-chart probabilities a replay gave.

The collector flags each chart by its own persistence rule (99.9 on 3 of 5 samples), and a node is as
flagged as its most flagged chart. At one sample a second, a single chart's blip of 3 to 6 s (a jittery
`system.idlejitter`, a process count) is then an alert like any fault. The rules here keep each chart's
own rule and ask more of a chart that is flagged alone: a chart's run of flags stands from the first row
where either at least `min_charts` charts (itself included) have been flagged within the last `window_n`
rows, or its own stricter rule holds (a longer hold or a higher bar); it then stands to the run's end, so a
fault whose charts clear one after the other is still one alert.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from anomalies.config import DEFAULTS
from anomalies_online.config import DEFAULTS as ONLINE_DEFAULTS

from .detectors import CHART_PREFIX
from .sweep import from_first, persistent_flags, trailing_sums

Rule = Tuple[float, int, int]  # threshold (percent), min_n, window_n


def own_rule(defaults: Dict[str, Any]) -> Rule:
    """Each chart's own persistence rule in a module's defaults (below 60 s)."""
    return defaults["flags_threshold"], defaults["flags_min_n"], defaults["flags_window_n"]


BASE_RULE: Rule = own_rule(DEFAULTS)
STREAMING_RULE: Rule = own_rule(ONLINE_DEFAULTS)


def corroborated(flags: np.ndarray, min_charts: int, window_n: int) -> np.ndarray:
    """Rows (bool) where at least `min_charts` charts have been flagged within the last `window_n` rows."""
    recent = trailing_sums(flags.astype(np.int32), window_n) > 0
    return recent.sum(axis=1) >= min_charts


def standing_runs(flags: np.ndarray, qualifies: np.ndarray) -> np.ndarray:
    """Per column, each run of `flags` from its first row where `qualifies` holds to its end."""
    return np.column_stack([from_first(flags[:, c], qualifies[:, c]) for c in range(flags.shape[1])])


def chart_flags(probability: np.ndarray, min_charts: int = 1, window_n: int = 10,
                lone_rule: Optional[Rule] = None, base_rule: Rule = BASE_RULE) -> np.ndarray:
    """Each chart's raised flags (rows × charts): its runs of `base_rule` flags that stand. With `min_charts`
    1 that is every run (the collector now); otherwise a run stands once `min_charts` charts were flagged
    within `window_n` rows, or once the chart's own `lone_rule` holds (None: never alone)."""
    flags = persistent_flags(probability, *base_rule)
    if min_charts <= 1:
        return flags
    qualifies = np.repeat(corroborated(flags, min_charts, window_n)[:, None], flags.shape[1], axis=1)
    if lone_rule is not None:
        qualifies |= persistent_flags(probability, *lone_rule)
    return standing_runs(flags, qualifies)


def suppressed(flags: np.ndarray, min_n: int, window_n: int) -> np.ndarray:
    """Netdata's suppression, per chart (column): a flag is dropped while the chart was flagged on at least
    `min_n` of the last `window_n` rows (this one included)."""
    return flags & (trailing_sums(flags.astype(np.int32), window_n) < min_n)


def node_flags(probability: np.ndarray, min_charts: int = 1, window_n: int = 10,
               lone_rule: Optional[Rule] = None, base_rule: Rule = BASE_RULE,
               group: Optional[Tuple[Rule, int]] = None) -> np.ndarray:
    """The node's flags (rows): any chart's raised flags (`chart_flags`). With `group` (a lower rule, k), a
    chart's run of the lower rule stands too once at least k charts held it within `window_n`."""
    node = chart_flags(probability, min_charts, window_n, lone_rule, base_rule).any(axis=1)
    if group is not None:
        lower = persistent_flags(probability, *group[0])
        together = np.repeat(corroborated(lower, group[1], window_n)[:, None], lower.shape[1], axis=1)
        node |= standing_runs(lower, together).any(axis=1)
    return node


def charts_matching(chart_names: Sequence[str], charts: "re.Pattern[str]") -> List[int]:
    """Positions of the per-chart models ('<series>.chart:<chart id>') whose chart id `charts` matches whole,
    as a job's `charts_regex` picks its charts (`system.cpu` does not pick `system.cpu_pressure`)."""
    return [i for i, name in enumerate(chart_names) if charts.fullmatch(name.partition(CHART_PREFIX)[2])]


def collector_rule(defaults: Dict[str, Any], suppression: Optional[Tuple[int, int]] = None
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """The node flags a module's defaults (below 60 s) give, re-applied: each chart's own rule, the long hold
    beside it if set (counting from the first row: a re-applied rule does not know how much history the
    models were trained on) and the rule across the job's models (a spike rule is not modelled here, and no
    default sets one); with `suppression` (min_n, window_n), each chart's flags `suppressed` before the node
    takes any of them."""
    if defaults["flags_spike_threshold"] is not None:
        raise ValueError("node_rules does not model the spike rule")
    alone = defaults["flags_alone_threshold"]
    lone = None if alone is None else (alone, defaults["flags_alone_min_n"], defaults["flags_alone_window_n"])
    held = defaults.get("flags_long_threshold")
    long = None if held is None else (held, defaults["flags_long_min_n"], defaults["flags_long_window_n"])
    if long is not None and defaults["flags_min_models"] > 1:
        raise ValueError("node_rules models the long hold only without the rule across models")

    def rule(probability: np.ndarray) -> np.ndarray:
        flags = chart_flags(probability, defaults["flags_min_models"], defaults["flags_min_models_window_n"],
                            lone, own_rule(defaults))
        if long is not None:
            flags |= persistent_flags(probability, *long)
        return (flags if suppression is None else suppressed(flags, *suppression)).any(axis=1)
    return rule


# The candidates, named as the rule in docs/ablation.md names them ("now" as of that rule).
CANDIDATES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "any chart (now)": lambda p: node_flags(p),
    "2 charts within 10 s": lambda p: node_flags(p, 2, 10),
    "2 charts within 10 s, or alone 99.9 on 5 of 10": lambda p: node_flags(p, 2, 10, (99.9, 5, 10)),
    "2 charts within 10 s, or alone 99.9 on 8 of 10": lambda p: node_flags(p, 2, 10, (99.9, 8, 10)),
    "2 charts within 10 s, or alone 99.99 on 3 of 5": lambda p: node_flags(p, 2, 10, (99.99, 3, 5)),
    "2 charts within 10 s, or alone 99.999 on 3 of 5": lambda p: node_flags(p, 2, 10, (99.999, 3, 5)),
    "2 charts within 30 s, or alone 99.9 on 8 of 10": lambda p: node_flags(p, 2, 30, (99.9, 8, 10)),
    "2 charts within 30 s, or alone 99.99 on 3 of 5": lambda p: node_flags(p, 2, 30, (99.99, 3, 5)),
}

# Several charts just below the bar (docs/ablation.md), each on top of the offline default below 60 s.
GROUP_CANDIDATES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none (now)": collector_rule(DEFAULTS),
    **{f"+ {k} charts at {t:g} on 3 of 5 within 10 s": (lambda p, t=t, k=k: node_flags(
        p, 2, 10, (99.99, 3, 5), group=((t, 3, 5), k))) for t, k in [(99.5, 3), (99.5, 4), (99, 3), (99, 4),
                                                                    (99, 5), (99.7, 2)]},
}

# Netdata's suppression on top of the offline default below 60 s (docs/ablation.md, "Netdata's suppression").
SUPPRESSION_CANDIDATES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none (now)": collector_rule(DEFAULTS),
    "(n15) suppressed at 450 of the last 900": collector_rule(DEFAULTS, (450, 900)),
    "(n5) suppressed at 150 of the last 300": collector_rule(DEFAULTS, (150, 300)),
}

# A second, longer hold at a lower bar beside each chart's own rule (docs/ablation.md, "A second, longer hold").
LONG_HOLDS: Dict[str, Rule] = {"(h1) + 98 on 30 of 30": (98.0, 30, 30), "(h2) + 99 on 30 of 30": (99.0, 30, 30),
                               "(h3) + 99 on 20 of 20": (99.0, 20, 20), "(h4) + 98 on 60 of 60": (98.0, 60, 60),
                               "(h5) + 97 on 60 of 60": (97.0, 60, 60)}


def long_hold_candidates(defaults: Dict[str, Any]) -> Dict[str, Callable[[np.ndarray], np.ndarray]]:
    """(a) a module's defaults now, then each of LONG_HOLDS beside its own rule, as a job with the
    `flags_long_*` keys set to it flags once `flags_long_after_secs` is reached (`collector_rule`)."""
    return {"(a) now": collector_rule(defaults),
            **{name: collector_rule({**defaults, "flags_long_threshold": threshold, "flags_long_min_n": min_n,
                                     "flags_long_window_n": window_n})
               for name, (threshold, min_n, window_n) in LONG_HOLDS.items()}}


# The streaming module's candidates, each chart's own rule STREAMING_RULE.
STREAMING_CANDIDATES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "any chart (now)": collector_rule(ONLINE_DEFAULTS),
    "2 charts within 10 s": lambda p: node_flags(p, 2, 10, base_rule=STREAMING_RULE),
    "2 charts within 10 s, or alone 99.9 on 10 of 12":
        lambda p: node_flags(p, 2, 10, (99.9, 10, 12), STREAMING_RULE),
    "2 charts within 10 s, or alone 99.99 on 10 of 12":
        lambda p: node_flags(p, 2, 10, (99.99, 10, 12), STREAMING_RULE),
    "2 charts within 10 s, or alone 99 on 30 of 36": lambda p: node_flags(p, 2, 10, (99.0, 30, 36), STREAMING_RULE),
    "2 charts within 30 s, or alone 99.9 on 10 of 12":
        lambda p: node_flags(p, 2, 30, (99.9, 10, 12), STREAMING_RULE),
}
