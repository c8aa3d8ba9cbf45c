# SPDX-License-Identifier: GPL-3.0-or-later
"""Job configuration: the one place defaults live, and validation that names the key it rejects."""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, FrozenSet, List, Optional, Sequence, Tuple

from .columns import Column, parse_column
from .deviation import DeviationRule, parse_direction, parse_min_dev
from .extras import installed_only
from .models import LIBRARIES, NUMPY_MODELS, KnnScorer
from .user_models import OFFLINE_METHODS, check_user_model, is_reference, parse_model_args, parse_model_path

MODELS = ("pca", "zscore", "zmax", "knn", "hbos", "iforest", "cblof", "loda", "copod", "ecod")

# Keys both modules (anomalies, anomalies_online) read, with the same meaning. Upstream's keys keep their
# names and meanings; the flags_* keys are new.
COMMON_DEFAULTS: Dict[str, Any] = {
    "host": "127.0.0.1:19999",
    "protocol": "http",
    "username": None,
    "password": None,
    "tls_verify": True,
    # uptime only ever grows (its level leaves every training range) and entropy is noise
    "charts_to_exclude": "system.uptime,system.entropy,apps.uptime,users.uptime,groups.uptime",
    "lags_n": 5,
    "smooth_n": 3,
    "diffs_n": 1,
    # the smoothed level of each dimension as a feature beside its differences (docs/ablation.md)
    "include_levels": True,
    "contamination": 0.001,
    "include_average_prob": True,
    "custom_models": [],
    # a flag: probability >= flags_threshold on flags_min_n of the last flags_window_n cycles (docs/ablation.md)
    "flags_threshold": 99.9,
    "flags_min_n": 3,
    "flags_window_n": 5,
    # a second rule that flags too (off: none): probability >= flags_spike_threshold on flags_spike_min_n of the
    # last flags_spike_window_n cycles, for anomalies too short for the first rule (anomalies/flags.py)
    "flags_spike_threshold": None,
    "flags_spike_min_n": 3,
    "flags_spike_window_n": 5,
    # a rule across the job's models (off: 1): a model's flag is raised once at least flags_min_models models of
    # the job (itself included) were flagged by the rules above within the last flags_min_models_window_n
    # cycles, or once it alone holds flags_alone_threshold on flags_alone_min_n of the last
    # flags_alone_window_n (none: a model alone is not flagged); a job of fewer models flags as if off
    "flags_min_models": 1,
    "flags_min_models_window_n": 10,
    "flags_alone_threshold": None,
    "flags_alone_min_n": 3,
    "flags_alone_window_n": 5,
    # a flag stands only while a dimension driving it is on this side of its expected value (both, above,
    # below) and farther from it than min_dev_from_expected (in the chart's units, or 'N%' of the expected
    # value); per custom model too (anomalies/deviation.py)
    "detection_direction": "both",
    "min_dev_from_expected": 0,
    # keep the models in the agent's lib dir, so a restart continues with them
    "save_state": True,
    # keyword arguments of the model's class (a built-in one's hyper-parameters, or your own class's, with
    # model: 'package.module:Class'), and a directory of your own model code that only root can write
    # (anomalies/user_models.py)
    "model_args": {},
    "model_path": None,
    # a regex of chart ids whose expected value and band get a chart of their own, band_<chart> (off: ''; each
    # one triples the dimensions; anomalies/band_charts.py)
    "band_charts": "",
    # seconds between samples (python.d's own key); at SLOW_COLLECTION_S or more other defaults apply, and a
    # job slower than its charts reads their history averaged to one row a cycle
    "update_every": 1,
}

SLOW_COLLECTION_S = 60  # an update_every from which the slow-collection defaults apply, in both modules
# The flag rule of a job sampled once a minute or slower: a day is then 1,440 samples or fewer, so 5 samples
# are 5 minutes or more (chosen for the streaming module, and the offline module's rule on such data:
# docs/ablation.md, "a flag rule for metrics collected once a minute or slower").
SLOW_COLLECTION_FLAGS: Dict[str, Any] = {
    "flags_threshold": 99.9,
    "flags_min_n": 3,
    "flags_window_n": 5,
}


def defaults_for(raw: Dict[str, Any], defaults: Dict[str, Any], slow: Dict[str, Any]) -> Dict[str, Any]:
    """`defaults`, with `slow` over them for a job that updates every SLOW_COLLECTION_S seconds or more (an
    update_every that is not a whole number leaves `defaults`; its parser says why)."""
    try:
        is_slow = positive_int(raw.get("update_every") or defaults["update_every"]) >= SLOW_COLLECTION_S
    except (ValueError, TypeError):
        is_slow = False
    return {**defaults, **slow} if is_slow else defaults


# `system.*`, `mem.*` and every per-disk chart: on the recordings they find the slow disks, leaks and memory
# faults only they show, for no more false alarms than `system.*` (docs/ablation.md, "Which charts the offline
# defaults model, under the held rule" and "... the streaming defaults model"), less the filesystems' used space
# and inodes, whose drift with every write a young agent's models flagged for its first hour (docs/ablation.md,
# "Used space and inodes in the default charts"). Each module leaves out some of
# the kernel's pressure charts too (below and in anomalies_online/config.py).
DEFAULT_CHARTS = r"(?!disk_(space|inodes)\.)(system|mem|disk(_\w+)?)\..*"

# The offline module's defaults: the common keys plus its charts, model and training schedule.
DEFAULTS: Dict[str, Any] = {
    **COMMON_DEFAULTS,
    # the default charts less the 12 pressure charts, which stayed flagged for minutes after faults and
    # say what the CPU, disk and memory charts say (docs/ablation.md, "The pressure charts in the default charts")
    "charts_regex": r"(?!system\.\w+_pressure)" + DEFAULT_CHARTS,
    # the mean squared z-score of the features, on the current difference and 2 lags beside the level: chosen
    # on the selection part and confirmed (docs/ablation.md, "The offline model's score"); upstream: pca, 5 lags
    "model": "zscore",
    "lags_n": 2,
    # the mean of the last N samples of each dimension as features of their own (0: none); zscore scores them
    # apart from the rest and takes the larger (anomalies/models.py ZscoreScorer; docs/ablation.md, "a long level")
    "long_level_n": 0,
    # a model uses its level features only when its training window spans at least this many seconds: one
    # trained on a young agent's first minutes has not seen the range of a chart's level (0: always)
    "levels_after_secs": 0,
    # a probability of 99.5 held for 8 of 10 cycles: a fault lasts, benign bursts and noise do not (docs/ablation.md,
    # "The offline module with the streaming module's held rule"); at 60 s and slower 99.9 on 3 of 5
    "flags_threshold": 99.5,
    "flags_min_n": 8,
    "flags_window_n": 10,
    # a third rule beside those (off: none): probability >= flags_long_threshold on flags_long_min_n of the last
    # flags_long_window_n cycles, once the models were trained on at least flags_long_after_secs of history: a
    # level held far out (a memory hog, a leak) stays near the top for minutes, benign bursts do not; models
    # trained on a young agent's first minutes have not seen a level's range (docs/ablation.md, "A second,
    # longer hold"; off at 60 s and slower)
    "flags_long_threshold": None,
    "flags_long_min_n": 30,
    "flags_long_window_n": 30,
    "flags_long_after_secs": 3600,
    "train_max_n": 100000,
    "train_every_n": 1800,
    "train_n_secs": 14400,
    "train_no_prediction_n": 10,
    # no model (so no flag) before the agent has this much history, or train_n_secs if that is less:
    # models trained on a few minutes flag everything the next minutes bring (see README, "The first hour")
    "min_train_secs": 900,
    "initial_train_data_after": 0,
    "initial_train_data_before": 0,
    "offset_n_secs": 0,
    "custom_models_normalize": False,
}
# At 60 s and slower: the slow flag rule, and a window of 10 days (14,400 samples at one a minute, as
# 4 hours are at one a second; 4 hours would be 240 samples, too few: docs/ablation.md, "The offline
# training window at 60 s and slower"), the first training after 15 hours (1/16 of it, as now).
SLOW_COLLECTION_DEFAULTS: Dict[str, Any] = {
    **SLOW_COLLECTION_FLAGS,
    "flags_long_threshold": None,
    "train_n_secs": 864000,
    "min_train_secs": 54000,
}


@dataclass(frozen=True)
class CustomModel:
    """A named group of dimensions, possibly on several hosts, modelled together; its own
    `detection_direction` and `min_dev_from_expected` (None: the job's)."""

    name: str
    columns: Tuple[Column, ...]
    detection_direction: Optional[str] = None
    min_dev_from_expected: Optional[Tuple[float, bool]] = None


@dataclass(kw_only=True)
class CommonConfig:
    """Validated settings both modules share; see COMMON_DEFAULTS for the meaning of each key."""

    host: str
    protocol: str
    username: Optional[str]
    password: Optional[str]
    tls_verify: Any
    charts_regex: "re.Pattern[str]"
    charts_to_exclude: Tuple[str, ...]
    lags_n: int
    smooth_n: int
    diffs_n: int
    include_levels: bool
    contamination: float
    include_average_prob: bool
    custom_models: Tuple[CustomModel, ...]
    update_every: int
    flags_threshold: float
    flags_min_n: int
    flags_window_n: int
    flags_spike_threshold: Optional[float]
    flags_spike_min_n: int
    flags_spike_window_n: int
    flags_min_models: int
    flags_min_models_window_n: int
    flags_alone_threshold: Optional[float]
    flags_alone_min_n: int
    flags_alone_window_n: int
    detection_direction: str
    min_dev_from_expected: Tuple[float, bool]
    save_state: bool
    model_args: Dict[str, Any]
    model_path: Optional[str]
    band_charts: Optional["re.Pattern[str]"]
    problems: List[str] = field(default_factory=list)

    # Keys that change how a job runs, not what its models learn: saved models survive edits to them.
    RUNTIME_KEYS: ClassVar[FrozenSet[str]] = frozenset({
        "protocol", "username", "password", "tls_verify", "include_average_prob", "update_every",
        "flags_threshold", "flags_min_n", "flags_window_n", "flags_spike_threshold", "flags_spike_min_n",
        "flags_spike_window_n", "flags_min_models", "flags_min_models_window_n", "flags_alone_threshold",
        "flags_alone_min_n", "flags_alone_window_n", "detection_direction", "min_dev_from_expected", "save_state",
        "band_charts", "problems"})

    def deviation_rules(self, names: Sequence[str]) -> List[DeviationRule]:
        """The deviation rule of each model by name: a custom model's own keys, else the job's."""
        custom = {model.name: model for model in self.custom_models}
        rules = []
        for name in names:
            own = custom.get(name)
            direction = own.detection_direction if own and own.detection_direction else self.detection_direction
            min_dev = own.min_dev_from_expected if own and own.min_dev_from_expected else self.min_dev_from_expected
            rules.append(DeviationRule(direction, *min_dev))
        return rules

    def fingerprint(self) -> str:
        """A hash of every setting the models depend on: saved models are restored only under the same."""
        settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name not in self.RUNTIME_KEYS}
        text = json.dumps(settings, sort_keys=True, default=_canonical)
        return hashlib.sha256(text.encode()).hexdigest()

    def hosts(self) -> List[str]:
        """Every host a model reads from: the job's host first."""
        hosts = [self.host]
        for custom in self.custom_models:
            hosts += [c.host for c in custom.columns if c.host not in hosts]
        return hosts


@dataclass(kw_only=True)
class Config(CommonConfig):
    """Validated settings of the offline module; see DEFAULTS."""

    model: str
    long_level_n: int
    levels_after_secs: int
    flags_long_threshold: Optional[float]
    flags_long_min_n: int
    flags_long_window_n: int
    flags_long_after_secs: int
    train_max_n: int
    train_every_n: int
    train_n_secs: int
    train_no_prediction_n: int
    min_train_secs: int
    initial_train_data_after: int
    initial_train_data_before: int
    offset_n_secs: int
    custom_models_normalize: bool

    RUNTIME_KEYS: ClassVar[FrozenSet[str]] = CommonConfig.RUNTIME_KEYS | {
        "train_every_n", "train_no_prediction_n", "min_train_secs", "flags_long_threshold", "flags_long_min_n",
        "flags_long_window_n", "flags_long_after_secs"}

    def history_needed_secs(self) -> int:
        """Seconds of history the agent must have before the first training (none for a fixed window)."""
        if self.initial_train_data_after and self.initial_train_data_before:
            return 0
        return min(self.min_train_secs, self.train_n_secs)


def _canonical(value: Any) -> Any:
    """JSON form of the config values json cannot write itself (for `CommonConfig.fingerprint`)."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, CustomModel):  # its deviation keys change no model
        return {"name": value.name, "columns": [list(column) for column in value.columns]}
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or int(value) != float(value) or int(value) < 0:
        raise ValueError("must be a whole number >= 0")
    return int(value)


def positive_int(value: Any) -> int:
    number = non_negative_int(value)
    if number < 1:
        raise ValueError("must be >= 1")
    return number


def positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number > 0")
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError("must be a number > 0")
    return number


_TRUE_WORDS = ("yes", "true", "1", "on")
_FALSE_WORDS = ("no", "false", "0", "off")
_BOOL_WORDS = _TRUE_WORDS + _FALSE_WORDS


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in _TRUE_WORDS:
        return True
    if str(value).lower() in _FALSE_WORDS:
        return False
    raise ValueError("must be true or false")


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0 < number < 0.5:
        raise ValueError("must be between 0 and 0.5")
    return number


def _percent(value: Any) -> float:
    number = float(value)
    if not 0 < number <= 100:
        raise ValueError("must be in (0, 100]")
    return number


def one_of(names: Tuple[str, ...]) -> Callable[[Any], str]:
    """A parser accepting one of `names` (any case)."""
    def parse(value: Any) -> str:
        name = str(value).lower()
        if name not in names:
            raise ValueError("unknown model, choose one of " + ", ".join(names))
        return name
    return parse


def model_choice(names: Tuple[str, ...], libraries: Dict[str, Tuple[str, ...]]) -> Callable[[Any], str]:
    """A `model` parser: one of the built-in `names` whose libraries are installed, or a class reference
    `package.module:Class` (loaded and checked after all keys are parsed: `user_models.check_user_model`)."""
    builtin = installed_only(one_of(names), libraries)

    def parse(value: Any) -> str:
        return str(value).strip() if is_reference(str(value).strip()) else builtin(value)
    return parse


def _protocol(value: Any) -> str:
    if value not in ("http", "https"):
        raise ValueError("must be http or https")
    return value


def _tls_verify(value: Any) -> Any:
    """True/False, or the path of a CA bundle file (as `requests` accepts)."""
    if isinstance(value, str) and value.lower() not in _BOOL_WORDS:
        if not os.path.isfile(value):
            raise ValueError("must be true, false or the path of a CA bundle file")
        return value
    return _bool(value)


def _optional_percent(value: Any) -> Optional[float]:
    return None if str(value).strip().lower() in ("", "none", "no", "off", "false") else _percent(value)


def _optional_str(value: Any) -> Optional[str]:
    return None if value in (None, "") else str(value)


def _exclude_list(value: Any) -> Tuple[str, ...]:
    return tuple(item.strip() for item in str(value or "").split(",") if item.strip())


COMMON_PARSERS: Dict[str, Callable[[Any], Any]] = {
    "host": lambda v: str(v).strip().rstrip("/"),
    "protocol": _protocol,
    "username": _optional_str,
    "password": _optional_str,
    "tls_verify": _tls_verify,
    "charts_regex": lambda v: re.compile(str(v)),
    "charts_to_exclude": _exclude_list,
    "lags_n": non_negative_int,
    "smooth_n": positive_int,
    "diffs_n": non_negative_int,
    "include_levels": _bool,
    "contamination": _fraction,
    "include_average_prob": _bool,
    "update_every": positive_int,
    "flags_threshold": _percent,
    "flags_min_n": positive_int,
    "flags_window_n": positive_int,
    "flags_spike_threshold": _optional_percent,
    "flags_spike_min_n": positive_int,
    "flags_spike_window_n": positive_int,
    "flags_min_models": positive_int,
    "flags_min_models_window_n": positive_int,
    "flags_alone_threshold": _optional_percent,
    "flags_alone_min_n": positive_int,
    "flags_alone_window_n": positive_int,
    "detection_direction": parse_direction,
    "min_dev_from_expected": parse_min_dev,
    "save_state": _bool,
    "model_args": parse_model_args,
    "model_path": parse_model_path,
    "band_charts": lambda v: re.compile(str(v)) if str(v).strip() else None,
}

_PARSERS: Dict[str, Callable[[Any], Any]] = {
    **COMMON_PARSERS,
    "model": model_choice(MODELS, LIBRARIES),
    "long_level_n": non_negative_int,
    "levels_after_secs": non_negative_int,
    "flags_long_threshold": _optional_percent,
    "flags_long_min_n": positive_int,
    "flags_long_window_n": positive_int,
    "flags_long_after_secs": non_negative_int,
    "train_max_n": positive_int,
    "train_every_n": non_negative_int,
    "train_n_secs": positive_int,
    "train_no_prediction_n": non_negative_int,
    "min_train_secs": non_negative_int,
    "initial_train_data_after": non_negative_int,
    "initial_train_data_before": non_negative_int,
    "offset_n_secs": non_negative_int,
    "custom_models_normalize": _bool,
}

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _custom_models(value: Any, host: str, problems: List[str]) -> Tuple[CustomModel, ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        problems.append("custom_models: must be a list of {name, dimensions}; ignoring it")
        return ()
    models, seen = [], set()
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        if not name or not _MODEL_NAME.match(str(name)) or name in seen:
            problems.append(f"custom_models[{index}]: name {name!r} must be unique and use only "
                            "letters, digits, '_', '-' or '.'; skipping this model")
            continue
        columns = []
        for text in str(item.get("dimensions") or "").split(","):
            if not text.strip():
                continue
            try:
                columns.append(parse_column(text, default_host=host))
            except ValueError as error:
                problems.append(f"custom_models[{name}].dimensions: {error}; skipping that dimension")
        if not columns:
            problems.append(f"custom_models[{name}].dimensions: no valid 'chart|dim'; skipping this model")
            continue
        seen.add(name)
        models.append(CustomModel(str(name), tuple(dict.fromkeys(columns)), **_own_settings(item, name, problems)))
    return tuple(models)


def _own_settings(item: Dict[str, Any], name: str, problems: List[str]) -> Dict[str, Any]:
    """A custom model's own `detection_direction` and `min_dev_from_expected`, those it sets validly (an
    invalid one is a problem, and the job's value stands)."""
    settings = {}
    for key, parser in (("detection_direction", parse_direction), ("min_dev_from_expected", parse_min_dev)):
        if key in item:
            try:
                settings[key] = parser(item[key])
            except (ValueError, TypeError) as error:
                problems.append(f"custom_models[{name}].{key}: invalid value {_quoted(item[key])} ({error}); "
                                "using the job's")
    return settings


def _quoted(value: Any) -> str:
    """A config value as the user wrote it: a string in quotes without repr's doubled backslashes."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def parse_settings(raw: Dict[str, Any], defaults: Dict[str, Any],
                   parsers: Dict[str, Callable[[Any], Any]]) -> Dict[str, Any]:
    """Validate a python.d job configuration against `defaults` and `parsers` (one per key).

    Every invalid value is replaced by its default and described in the returned "problems" list (one line
    each, naming the key), so the job still runs whatever is valid.
    """
    values: Dict[str, Any] = {}
    problems: List[str] = []
    for key, parser in parsers.items():
        value = raw.get(key, defaults[key])
        if value is None and defaults[key] is not None:
            value = defaults[key]
        try:
            values[key] = parser(value) if value is not None else None
        except (ValueError, TypeError, re.error) as error:
            problems.append(f"{key}: invalid value {_quoted(value)} ({error}); using default "
                            f"{_quoted(defaults[key])}")
            values[key] = parser(defaults[key]) if defaults[key] is not None else None
    for prefix in ("flags", "flags_spike", "flags_alone", "flags_long"):
        if f"{prefix}_min_n" not in values:  # a module without that rule
            continue
        min_n, window_n = f"{prefix}_min_n", f"{prefix}_window_n"
        if values[min_n] > values[window_n]:
            problems.append(f"{min_n}: {values[min_n]} is more than {window_n} {values[window_n]}; using "
                            f"{min_n} = {window_n}")
            values[min_n] = values[window_n]
    values["custom_models"] = _custom_models(raw.get("custom_models"), values["host"], problems)
    values["problems"] = problems
    return values


def parse_config(raw: Dict[str, Any]) -> Config:
    """Validate a job configuration of the offline module (see `parse_settings`)."""
    values = parse_settings(raw, defaults_for(raw, DEFAULTS, SLOW_COLLECTION_DEFAULTS), _PARSERS)
    check_user_model(values, OFFLINE_METHODS, DEFAULTS["model"], values["problems"], tuple(NUMPY_MODELS))
    if values["model"] == "knn":
        values["model_args"] = _knn_args(values["model_args"], values["problems"])
    return Config(**values)


def _knn_args(model_args: Dict[str, Any], problems: list) -> Dict[str, Any]:
    """knn's `model_args` that its constructor takes with a positive whole value; one problem line
    names the others, which are ignored (so a typo is said once, not by every model's training)."""
    names = list(inspect.signature(KnnScorer).parameters)
    kept = {k: v for k, v in model_args.items()
            if k in names and not isinstance(v, bool) and isinstance(v, int) and v > 0}
    ignored = sorted(set(model_args) - set(kept))
    if ignored:
        problems.append(f"model_args: knn takes {', '.join(names)} (positive whole numbers); ignoring "
                        + ", ".join(ignored))
    return kept
