# SPDX-License-Identifier: GPL-3.0-or-later
from pathlib import Path

import pytest
import yaml

from anomalies.columns import Column
from anomalies.config import DEFAULTS, MODELS, SLOW_COLLECTION_DEFAULTS, parse_config
from anomalies.planning import plan_models
from anomalies_online import config as online_config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf.d"


@pytest.mark.parametrize("module, defaults", [("anomalies", DEFAULTS), ("anomalies_online", online_config.DEFAULTS)])
def test_shipped_conf_states_the_defaults(module, defaults):
    shipped = CONF_DIR / f"{module}.conf"
    job = yaml.safe_load(shipped.read_text())["local"]
    stated = {key: value for key, value in job.items() if key != "name"}
    assert stated == {key: defaults[key] for key in stated}
    commented = {line.strip().lstrip("# ").split(":")[0] for line in shipped.read_text().splitlines()
                 if line.strip().startswith("# ") and ":" in line}
    assert set(defaults) - set(stated) <= commented | {"custom_models"}


def test_a_job_at_60_s_or_slower_gets_a_window_of_thousands_of_samples():
    fast, slow = parse_config({}), parse_config({"update_every": 60})
    assert (fast.train_n_secs, fast.min_train_secs) == (DEFAULTS["train_n_secs"], DEFAULTS["min_train_secs"])
    assert (slow.train_n_secs, slow.min_train_secs) == (SLOW_COLLECTION_DEFAULTS["train_n_secs"],
                                                        SLOW_COLLECTION_DEFAULTS["min_train_secs"])
    # 4 hours would be 240 samples at one a minute; the slow window holds thousands even at one in 5 minutes
    assert parse_config({"update_every": 300}).train_n_secs // 300 >= 1440
    assert slow.min_train_secs * 16 == slow.train_n_secs and slow.flags_min_n == 3
    # a window the user sets is theirs at any interval; the 1 s defaults below 60 s
    assert parse_config({"update_every": 300, "train_n_secs": 3600}).train_n_secs == 3600
    assert parse_config({"update_every": 30}).train_n_secs == DEFAULTS["train_n_secs"]


@pytest.mark.parametrize("module, parse, slow_defaults", [
    ("anomalies", parse_config, SLOW_COLLECTION_DEFAULTS),
    ("anomalies_online", online_config.parse_config, online_config.SLOW_COLLECTION_DEFAULTS)])
def test_the_shipped_job_at_60_s_gets_the_slow_defaults(module, parse, slow_defaults):
    """What the shipped conf states applies at any update_every; the keys whose default changes at 60 s and
    slower stay commented there, so a copy of its job set to one sample a minute gets the slow defaults."""
    job = yaml.safe_load((CONF_DIR / f"{module}.conf").read_text())["local"]
    slow = parse({**job, "update_every": 60})
    for key, value in slow_defaults.items():
        assert getattr(slow, key) == value, key


def test_upstream_config_works_unchanged():
    upstream = {"name": "Anomalies", "host": "127.0.0.1:19999", "protocol": "http", "tls_verify": True,
                "charts_regex": r"system\..*", "charts_to_exclude": "system.uptime,system.entropy",
                "model": "pca", "train_max_n": 100000, "train_every_n": 1800, "train_n_secs": 14400,
                "train_no_prediction_n": 10, "offset_n_secs": 0, "lags_n": 5, "smooth_n": 3, "diffs_n": 1,
                "contamination": 0.001, "include_average_prob": True, "custom_models_normalize": False,
                "custom_models": [{"name": "demos_cpu",
                                   "dimensions": "london::system.cpu|user,system.cpu|system"}]}
    config = parse_config(upstream)
    assert config.problems == []
    assert config.charts_to_exclude == ("system.uptime", "system.entropy")
    assert config.custom_models[0].columns == (Column("london", "system.cpu", "user"),
                                               Column("127.0.0.1:19999", "system.cpu", "system"))
    assert config.hosts() == ["127.0.0.1:19999", "london"]


def test_every_invalid_value_names_its_key_and_falls_back_to_the_default():
    config = parse_config({"charts_regex": "system\\.(cpu", "model": "nope", "train_n_secs": -5,
                           "lags_n": 1.5, "contamination": 2, "protocol": "ftp", "flags_threshold": 0,
                           "long_level_n": -30})
    assert config.charts_regex.pattern == DEFAULTS["charts_regex"]
    assert (config.model, config.train_n_secs, config.lags_n, config.contamination, config.protocol,
            config.long_level_n) == (DEFAULTS["model"], 14400, DEFAULTS["lags_n"], 0.001, "http",
                                     DEFAULTS["long_level_n"])
    assert len(config.problems) == 8
    assert sorted(problem.split(":")[0] for problem in config.problems) == sorted(
        ["protocol", "charts_regex", "model", "train_n_secs", "lags_n", "contamination", "flags_threshold",
         "long_level_n"])
    assert all(": invalid value" in problem for problem in config.problems)


def test_every_model_name_is_accepted():
    for name in MODELS:
        assert parse_config({"model": name.upper()}).model == name


def test_bad_custom_models_are_skipped_one_by_one():
    config = parse_config({"custom_models": [
        {"name": "ok", "dimensions": "system.cpu|user, system.load|load1"},
        {"name": "no_pipe", "dimensions": "system.cpu"},
        {"name": "ok", "dimensions": "system.cpu|user"},
        {"name": "bad name!", "dimensions": "system.cpu|user"},
        "not a dict"]})
    assert [m.name for m in config.custom_models] == ["ok"]
    assert len(config.problems) == 5


def test_chart_regex_matches_whole_ids_and_custom_dimensions_must_exist():
    config = parse_config({"charts_regex": r"system\.cpu|system\.load", "charts_to_exclude": "system.load",
                           "custom_models": [{"name": "mixed",
                                              "dimensions": "system.cpu|user,system.cpu|nope,other::a|b"}]})
    charts = {config.host: {"system.cpu": ["user", "system"], "system.cpu_pressure": ["some 10"],
                            "system.load": ["load1"]}}
    warnings = []
    specs = plan_models(config, charts, warnings.append)
    assert [s.name for s in specs] == ["system.cpu", "mixed"]
    assert [c.dim for c in specs[0].columns] == ["user", "system"]
    assert specs[1].columns == (Column(config.host, "system.cpu", "user"),)
    assert len(warnings) == 2 and "system.cpu|nope" in warnings[0] and "other" in warnings[1]


def test_no_chart_model_watches_the_anomaly_charts_of_either_module():
    config = parse_config({"charts_regex": ".*"})
    charts = {config.host: {chart: ["x"] for chart in (
        "anomalies_local.probability", "anomalies_online_local.anomaly", "anomalies.score",
        "anomalies_online_parent_child1.score", "netdata.runtime_anomalies_local", "system.cpu",
        "anomalies_local.probabilities")}}
    specs = plan_models(config, charts, [].append)
    assert [s.name for s in specs] == ["anomalies_local.probabilities", "netdata.runtime_anomalies_local",
                                       "system.cpu"]


@pytest.mark.parametrize("value, verify, warned", [(False, False, True), ("no", False, True), ("off", False, True),
                                                   (True, True, False), ("/no/such/ca.pem", True, False)])
def test_only_tls_verify_false_skips_verification_and_it_is_logged(value, verify, warned):
    from anomalies.cycle import report_config_problems
    from test_job import RecordingLog
    config = parse_config({"protocol": "https", "tls_verify": value})
    assert config.tls_verify is verify
    log = RecordingLog()
    report_config_problems(config, log)
    assert bool(log.said("warning", "certificates of the Netdata API are not verified")) is warned
    # a CA bundle that does not exist is an error naming the key, never a silent skip
    assert bool(log.said("error", "tls_verify: invalid value")) is (value == "/no/such/ca.pem")


def test_the_fingerprint_of_saved_models_ignores_runtime_keys_only():
    base = parse_config({})
    assert parse_config({"flags_threshold": 99, "password": "x", "train_every_n": 5}).fingerprint() == \
        base.fingerprint()
    for changed in ({"lags_n": 4}, {"long_level_n": 30}, {"model": "hbos"}, {"charts_regex": "system\\.cpu"},
                    {"custom_models": [{"name": "a", "dimensions": "system.cpu|user"}]}):
        assert parse_config(changed).fingerprint() != base.fingerprint(), changed
    online = online_config.parse_config({})
    assert online_config.parse_config({"warm_start_secs": 0}).fingerprint() == online.fingerprint()
    assert online_config.parse_config({"window_n": 100}).fingerprint() != online.fingerprint()


def test_the_offline_flag_rule_holds_a_lower_bar_below_60_s_and_a_short_one_at_60_s_and_slower():
    fast, slow = parse_config({}), parse_config({"update_every": 60})
    assert (fast.flags_threshold, fast.flags_min_n, fast.flags_window_n) == (99.5, 8, 10)
    assert (slow.flags_threshold, slow.flags_min_n, slow.flags_window_n) == (99.9, 3, 5)
    # the rule across charts is off by default in both modules, at every interval
    for config in (fast, slow, online_config.parse_config({})):
        assert (config.flags_min_models, config.flags_alone_threshold) == (1, None)
    # a rule the user sets applies at any interval
    assert parse_config({"update_every": 60, "flags_min_n": 8, "flags_window_n": 10}).flags_min_n == 8
