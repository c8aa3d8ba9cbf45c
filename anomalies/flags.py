# SPDX-License-Identifier: GPL-3.0-or-later
"""Anomaly flags: a probability above a threshold on at least `min_n` of the last `window_n` cycles (and,
if configured, a second such rule beside it), and the anomaly level the charts show (how near each model
is to the rule)."""
from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Union

import numpy as np

LEVEL_MAX = 200.0  # the level of a probability of 100 (beyond every score the model has seen)


class PersistenceFlagger:
    """Per model, its last `window_n` probabilities. A model is flagged while at least `min_n` of them are
    >= `threshold`, that is while the `min_n`-th highest of them (`held_`, the probability it has held
    for `min_n` of the last `window_n` cycles) is. A cycle without a probability (NaN) counts as below."""

    def __init__(self, threshold: float = 99.0, min_n: int = 3, window_n: int = 5):
        self.threshold = threshold
        self.min_n = min_n
        self.window_n = window_n
        self.names_: List[str] = []
        self.recent_ = np.empty((0, window_n))  # models × ring of probabilities, -inf where none
        self.next_ = 0
        self.held_ = np.empty(0)

    def update(self, names: Sequence[str], probabilities: np.ndarray) -> np.ndarray:
        """Record one cycle of probabilities (one per name, NaN = no value); return the flags (bool)."""
        if list(names) != self.names_:
            self._align(list(names))
        self.recent_[:, self.next_] = np.where(np.isnan(probabilities), -np.inf, probabilities)
        self.next_ = (self.next_ + 1) % self.window_n
        if self.min_n > self.window_n:
            self.held_ = np.full(len(self.names_), -np.inf)
        else:
            kth = self.window_n - max(self.min_n, 1)
            self.held_ = np.partition(self.recent_, kth, axis=1)[:, kth]
        return self.held_ >= self.threshold

    def levels(self) -> np.ndarray:
        """Per model (as of the last update), how unusual the probability it held is, relative to the flag
        threshold in powers of ten of rarity: 100 * log(1 - held) / log(1 - threshold). 100 is the flag
        line; on ordinary data (probabilities uniform) about 5 when the held one is the 8th largest of 10, about
        10 when it is their median (3 of 5); a held
        probability of 100 is `LEVEL_MAX`."""
        with np.errstate(divide="ignore"):
            rarity = -np.log10(1.0 - np.clip(self.held_, 0.0, 100.0) / 100.0)
            flag_rarity = -np.log10(1.0 - min(max(self.threshold, 0.0), 100.0) / 100.0)
        return np.minimum(100.0 * rarity / max(flag_rarity, 1e-12), LEVEL_MAX)

    def forget(self, names: Iterable[str]) -> None:
        """Drop the history of models that no longer exist."""
        gone = set(names)
        keep = [i for i, name in enumerate(self.names_) if name not in gone]
        if len(self.held_) == len(self.names_):
            self.held_ = self.held_[keep]
        self.names_ = [self.names_[i] for i in keep]
        self.recent_ = self.recent_[keep]

    def _align(self, names: List[str]) -> None:
        """Rows for `names` in this order: a known model keeps its history, a new one starts with none."""
        position = {name: i for i, name in enumerate(self.names_)}
        recent = np.full((len(names), self.window_n), -np.inf)
        for i, name in enumerate(names):
            if name in position:
                recent[i] = self.recent_[position[name]]
        self.names_, self.recent_ = names, recent


class EitherFlagger:
    """Two rules side by side: a model is flagged while either holds (a probability held long, or a higher
    one for a few cycles, or a lower one held longer still). The second counts only while the job's models
    were trained on at least `after_secs` of history (`trained_on`; 0: always): a level held far out (a
    memory hog, a leak) stays near the top of its model's range for minutes, which benign bursts do not, but
    models trained on a young agent's first minutes have not seen a level's range. Both rules see every
    cycle, so the second holds its history when it starts to count. The level is the higher of the levels
    of the rules that count, so 100 is still the flag line."""

    def __init__(self, first: "Flagger", second: PersistenceFlagger, after_secs: float = 0.0):
        self.first = first
        self.second = second
        self.after_secs = after_secs
        self.trained_secs_ = 0.0

    def trained_on(self, seconds: float) -> None:
        """The span of history the job's current models were trained on."""
        self.trained_secs_ = seconds

    @property
    def counts_(self) -> bool:
        """Does the second rule count now?"""
        return self.trained_secs_ >= self.after_secs

    def update(self, names: Sequence[str], probabilities: np.ndarray) -> np.ndarray:
        """Record one cycle of probabilities in both rules; return the flags (bool)."""
        first = self.first.update(names, probabilities)
        second = self.second.update(names, probabilities)
        return first | second if self.counts_ else first

    def levels(self) -> np.ndarray:
        """Per model, the higher of the levels of the rules that count."""
        return np.maximum(self.first.levels(), self.second.levels()) if self.counts_ else self.first.levels()

    def forget(self, names: Iterable[str]) -> None:
        """Drop the history of models that no longer exist."""
        gone = set(names)
        self.first.forget(gone)
        self.second.forget(gone)


class CorroboratedFlagger:
    """A rule across a job's models, around each model's own rule (`own`): a model's flag is raised once at
    least `min_models` models of the job (itself included) have been flagged by their own rule within the
    last `window_n` cycles, or once its `lone` rule holds (None: a model alone is never flagged); a raised
    flag lasts while its own rule holds. In a job of fewer than `min_models` models each model flags by its
    own rule. At one sample a second, one chart's blip of a few seconds is then
    no alert, while a fault that moves several charts, or one chart beyond the lone rule, is one.

    A model whose own rule holds while its flag waits shows a level just below the flag line
    (`WAITING_LEVEL`), so the level chart does not say "flagged" where the flag chart does not."""

    WAITING_LEVEL = 99.0

    def __init__(self, own: "Flagger", lone: Optional[PersistenceFlagger], min_models: int = 2, window_n: int = 10):
        self.own = own
        self.lone = lone
        self.min_models = min_models
        self.window_n = window_n
        self.names_: List[str] = []
        self.cycle_ = 0
        self.last_flagged_ = np.empty(0)  # per model, the cycle its own rule last held (-inf: never)
        self.own_flags_ = np.zeros(0, dtype=bool)
        self.raised_ = np.zeros(0, dtype=bool)

    def update(self, names: Sequence[str], probabilities: np.ndarray) -> np.ndarray:
        """Record one cycle of probabilities in the models' own rules; return the raised flags (bool)."""
        own = self.own.update(names, probabilities)
        lone = self.lone.update(names, probabilities) if self.lone is not None else np.zeros(len(own), dtype=bool)
        if list(names) != self.names_:
            self._align(list(names))
        self.cycle_ += 1
        self.last_flagged_[own] = self.cycle_
        together = (len(self.names_) < self.min_models  # too few models to agree: each flags by its own rule
                    or np.count_nonzero(self.cycle_ - self.last_flagged_ < self.window_n) >= self.min_models)
        self.own_flags_ = own
        self.raised_ = own & (self.raised_ | together | lone)
        return self.raised_.copy()

    def levels(self) -> np.ndarray:
        """Per model, its own rule's level; below the flag line while its flag waits."""
        levels = self.own.levels()
        if self.lone is not None:
            levels = np.maximum(levels, self.lone.levels())
        return np.where(self.own_flags_ & ~self.raised_, np.minimum(levels, self.WAITING_LEVEL), levels)

    def forget(self, names: Iterable[str]) -> None:
        """Drop the history of models that no longer exist."""
        gone = set(names)
        self.own.forget(gone)
        if self.lone is not None:
            self.lone.forget(gone)
        self._align([name for name in self.names_ if name not in gone])

    def _align(self, names: List[str]) -> None:
        """State for `names` in this order: a known model keeps it, a new one starts unflagged."""
        position = {name: i for i, name in enumerate(self.names_)}
        known = [position.get(name, -1) for name in names]
        pick = lambda values, empty: np.array([values[i] if i >= 0 else empty for i in known],  # noqa: E731
                                              dtype=values.dtype)
        self.last_flagged_ = pick(self.last_flagged_, -np.inf)
        self.own_flags_ = pick(self.own_flags_, False)
        self.raised_ = pick(self.raised_, False)
        self.names_ = names


Flagger = Union[PersistenceFlagger, EitherFlagger, CorroboratedFlagger]


def flagger_for(config: Any) -> Flagger:
    """The flag rule a job's settings ask for: `flags_threshold` on `flags_min_n` of `flags_window_n`, and
    beside it `flags_spike_threshold` on `flags_spike_min_n` of `flags_spike_window_n` when that is set;
    beside them `flags_long_threshold` on `flags_long_min_n` of `flags_long_window_n` when that is set
    (counting from `flags_long_after_secs` of training history, see `note_training`);
    with `flags_min_models` above 1, around them the rule across the job's models (`CorroboratedFlagger`)."""
    own: Flagger = PersistenceFlagger(config.flags_threshold, config.flags_min_n, config.flags_window_n)
    if config.flags_spike_threshold is not None:
        own = EitherFlagger(own, PersistenceFlagger(config.flags_spike_threshold, config.flags_spike_min_n,
                                                    config.flags_spike_window_n))
    if getattr(config, "flags_long_threshold", None) is not None:  # the offline module's
        own = EitherFlagger(own, PersistenceFlagger(config.flags_long_threshold, config.flags_long_min_n,
                                                    config.flags_long_window_n), config.flags_long_after_secs)
    if config.flags_min_models <= 1:
        return own
    lone = None if config.flags_alone_threshold is None else PersistenceFlagger(
        config.flags_alone_threshold, config.flags_alone_min_n, config.flags_alone_window_n)
    return CorroboratedFlagger(own, lone, config.flags_min_models, config.flags_min_models_window_n)


def note_training(flagger: Flagger, seconds: float) -> None:
    """Tell a job's flag rule the span of history its current models were trained on (the long hold counts
    only from `flags_long_after_secs`)."""
    if isinstance(flagger, CorroboratedFlagger):
        note_training(flagger.own, seconds)
    elif isinstance(flagger, EitherFlagger):
        flagger.trained_on(seconds)
        note_training(flagger.first, seconds)


def rule_text(config: Any) -> str:
    """The flag rule in words, for chart titles: 'for 3 of the last 5 updates'."""
    text = f"for {config.flags_min_n} of the last {config.flags_window_n} updates"
    if config.flags_spike_threshold is not None:
        text += (f", or at the higher bar of {config.flags_spike_threshold:g} for {config.flags_spike_min_n} of "
                 f"{config.flags_spike_window_n}")
    if getattr(config, "flags_long_threshold", None) is not None:
        text += (f", or at {config.flags_long_threshold:g} for {config.flags_long_min_n} of "
                 f"{config.flags_long_window_n}")
        if config.flags_long_after_secs:
            text += f" once trained on {config.flags_long_after_secs / 60:g} min"
    if config.flags_min_models > 1:
        # no apostrophe: the title is single-quoted in the plugin protocol
        more = config.flags_min_models - 1
        text += (f", with {more} more model{'s' if more > 1 else ''} of the job within "
                 f"{config.flags_min_models_window_n} updates")
        if config.flags_alone_threshold is not None:
            text += (f" or alone at {config.flags_alone_threshold:g} for {config.flags_alone_min_n} of "
                     f"{config.flags_alone_window_n}")
    return text
