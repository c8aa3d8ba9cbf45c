# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of the streaming module: the keys it shares with `anomalies` plus its own; defaults live here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, FrozenSet

from anomalies.config import (COMMON_DEFAULTS, COMMON_PARSERS, DEFAULT_CHARTS, SLOW_COLLECTION_FLAGS, CommonConfig,
                              defaults_for, model_choice, non_negative_int, parse_settings, positive_float,
                              positive_int)
from anomalies.user_models import STREAMING_METHODS, check_user_model

from .detectors import LIBRARIES

MODELS = ("zscore", "rrcf", "xstream", "hst", "rshash", "loda")

DEFAULTS: Dict[str, Any] = {
    **COMMON_DEFAULTS,
    # the default charts less the pressure charts' cumulative stall times, where a cron job's burst stood out
    # (docs/ablation.md, "The pressure charts in the default charts")
    "charts_regex": r"(?!system\.\w+_pressure_stall_time)" + DEFAULT_CHARTS,
    # A fault lasts; a heavy-tailed burst of noise decays within seconds. So a streaming flag needs a
    # probability of 99 held for 10 of 12 samples, on 2 lags (shorter runs of noise): a stationary day
    # gives no flag, and most recorded faults are found (docs/ablation.md, "a low threshold held long";
    # bench/stationary_flags.py).
    "lags_n": 2,
    "flags_threshold": 99.0,
    "flags_min_n": 10,
    "flags_window_n": 12,
    "model": "zscore",
    # how many recent samples a model adapts to: the span of the running mean and variance that
    # standardise its input, and the number of its recent scores the probability is read against
    "window_n": 3600,
    # the standardised features are clipped at +-z_limit standard deviations: one wild value counts no more
    # (20 at 60 s and slower: docs/ablation.md, "the clip of the standardised features")
    "z_limit": 10.0,
    # samples after (re)start without flags, while the window of scores fills
    "warmup_n": 1000,
    # seconds of history to learn from at start (0: start cold); at least warmup_n samples' worth
    "warm_start_secs": 3600,
    # cycles between saves of the models to the agent's lib dir (when save_state is on)
    "save_state_every_n": 600,
    # rrcf only: trees in the forest, points per tree, consecutive feature vectors per point
    "num_trees": 10,
    "tree_size": 256,
    "shingle_size": 1,
}

# At 60 s and slower: the slow flag rule (anomalies.config), and the clip at 20 (docs/ablation.md, "the clip of
# the standardised features": chosen at 60 s and slower only, where it found more events than 10).
SLOW_COLLECTION_DEFAULTS: Dict[str, Any] = {
    **SLOW_COLLECTION_FLAGS,
    "z_limit": 20.0,
}

PARSERS: Dict[str, Callable[[Any], Any]] = {
    **COMMON_PARSERS,
    "model": model_choice(MODELS, LIBRARIES),
    "window_n": positive_int,
    "z_limit": positive_float,
    "warmup_n": non_negative_int,
    "warm_start_secs": non_negative_int,
    "save_state_every_n": positive_int,
    "num_trees": positive_int,
    "tree_size": positive_int,
    "shingle_size": positive_int,
}


@dataclass(kw_only=True)
class OnlineConfig(CommonConfig):
    """Validated settings of the streaming module; see DEFAULTS."""

    model: str
    window_n: int
    z_limit: float
    warmup_n: int
    warm_start_secs: int
    save_state_every_n: int
    num_trees: int
    tree_size: int
    shingle_size: int

    RUNTIME_KEYS: ClassVar[FrozenSet[str]] = CommonConfig.RUNTIME_KEYS | {"warm_start_secs",
                                                                         "save_state_every_n"}

    def warm_start_span_secs(self) -> int:
        """Seconds of history the warm start reads: `warm_start_secs`, but at least `warmup_n` samples' worth
        (at one sample a minute an hour is 60 samples, and the rest of the warm-up would pass unflagged)."""
        if not self.warm_start_secs:
            return 0
        return max(self.warm_start_secs, self.warmup_n * self.update_every)


def parse_config(raw: Dict[str, Any]) -> OnlineConfig:
    """Validate a job configuration of the streaming module; each invalid value is one line in `problems`."""
    values = parse_settings(raw, defaults_for(raw, DEFAULTS, SLOW_COLLECTION_DEFAULTS), PARSERS)
    # rrcf takes its settings from its own keys (num_trees, tree_size, shingle_size)
    check_user_model(values, STREAMING_METHODS, DEFAULTS["model"], values["problems"], ("zscore", "rrcf"))
    return OnlineConfig(**values)
