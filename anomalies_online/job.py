# SPDX-License-Identifier: GPL-3.0-or-later
"""One python.d job of the `anomalies_online` module: every cycle each model scores and learns the newest
sample; at start the models can first learn the last `warm_start_secs` of history in the background."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from anomalies import charts
from anomalies.attribution import RisingFlags, describe_flag, log_explanation, streaming_parts
from anomalies.band_charts import BandCharts, streaming_band
from anomalies.deviation import DeviationGate, streaming_judge
from anomalies.child_process import call_in_child
from anomalies.collection_clock import CollectionClock
from anomalies.memory import keep_large_blocks_in_mmap
from anomalies.cycle import (CycleResult, LatestReader, Logger, PauseReporter, RepeatFilter, chart_values,
                             report_config_problems, warming_values)
from anomalies.features import FeatureSpec, FeatureWindow
from anomalies.flags import flagger_for, rule_text
from anomalies.health import JobHealth
from anomalies.netdata_source import NetdataSource, RowGatherer
from anomalies.planning import list_charts, plan_models
from anomalies.stale_state import remove_stale
from anomalies.state_store import job_store

from .config import OnlineConfig, parse_config
from .stream import StreamingBank, StreamingModel, stream_cycle

REPLAN_EVERY_N = 300  # cycles between looks for new or vanished charts
RETRY_PLAN_EVERY_N = 30  # cycles between looks while there is no model at all
WARM_START_TIMEOUT_S = 600


class OnlineJob:
    """Config → streaming models → per-cycle probability, flag and score per model."""

    def __init__(self, configuration: Dict[str, Any], log: Logger, module: str = "anomalies_online",
                 job_name: Optional[str] = None):
        keep_large_blocks_in_mmap()  # the plugin's jobs share one process: see anomalies.memory
        self.log = log
        self.module = module
        self.config: OnlineConfig = parse_config(configuration)
        self.store = job_store(self.config.save_state, job_name, log, self.config.model)
        self._saver: Optional[threading.Thread] = None
        self._restore_pending = self.store is not None  # at the first look at the charts that succeeds
        self._history_after: Optional[int] = None  # where the warm start begins, if not warm_start_secs ago
        self.feature_spec = FeatureSpec.from_config(self.config)
        self.flagger = flagger_for(self.config)
        self.source = NetdataSource.for_config(self.config)
        self.bank = StreamingBank(self.config, self.feature_spec)
        self.health = JobHealth()
        self.reader = LatestReader(self.source, log, self.health)
        self.clock = CollectionClock(self.config.update_every)
        self.last_data: Dict[str, int] = {}  # the charts' values of the last cycle with a new sample
        self.pauses = PauseReporter(log)
        self.rising = RisingFlags()
        self.gate = DeviationGate()
        self.model_counts: Optional[Tuple[int, int, int, int]] = None  # active, paused, warming up, untrained
        self.gatherer: Optional[RowGatherer] = None
        self.window: Optional[FeatureWindow] = None
        self.dimension_ids: Dict[str, List[str]] = {}
        self.cycle = 0
        self.last_plan_cycle: Optional[int] = None
        self.plan_warnings = RepeatFilter(log)
        self._warm_starter: Optional[threading.Thread] = None
        self._warm_start_done = self.config.warm_start_secs == 0
        # band charts need the level features the running band is read from
        self.bands = BandCharts(self.config.band_charts if self.feature_spec.levels else None, self.config.host,
                                module)

    def chart_definitions(self) -> Tuple[List[str], Dict[str, dict]]:
        c = self.config
        return charts.definitions(self.module, c.include_average_prob, rule_text(c),
                                  f"the {100 * (1 - c.contamination):g}th percentile of its last {c.window_n} "
                                  "scores")

    def check(self) -> bool:
        """Report every configuration problem once; the job runs with defaults in their place."""
        return report_config_problems(self.config, self.log)

    # -- which models ----------------------------------------------------------------------------------

    def _replan(self, result: CycleResult) -> None:
        """Models for the charts and custom models that exist now; new ones start, gone ones stop."""
        self.last_plan_cycle = self.cycle
        warnings: List[str] = []
        charts_by_host = list_charts(self.source, self.config.hosts(), warnings.append)
        specs = plan_models(self.config, charts_by_host, warnings.append) if charts_by_host else None
        self.plan_warnings.log_new(warnings)
        if specs is None:
            return  # no host answered: keep what we have
        if self._restore_pending:
            self._restore_pending = False
            self._restore_saved()
        old_columns = self.bank.columns
        added, removed = self.bank.replan(specs)
        for name in added:
            result.added.extend(charts.model_dimensions(name))
        for name in removed:
            result.removed.extend((chart, dim[0]) for chart, dim in charts.model_dimensions(name))
        self.flagger.forget(removed)
        self.dimension_ids = {chart: [charts.dimension_id(name, chart) for name in self.bank.names]
                              for chart in charts.MODEL_CHARTS}
        self.deviation_rules = self.config.deviation_rules(self.bank.names)
        result.new_charts.extend(self.bands.plan(self.bank.columns))
        if self.bank.columns != old_columns:
            self.gatherer = RowGatherer(self.bank.columns)
            self.window = FeatureWindow(self.feature_spec, np.empty((0, len(self.bank.columns))))
        if added:
            self.log.info(f"{len(self.bank.names)} streaming models ({self.config.model}); new: {len(added)}")
        if not self._warm_start_done and self.bank.models:
            self._warm_start_done = True
            self._start_warm_start()

    # -- across restarts -------------------------------------------------------------------------------

    def _restore_saved(self) -> None:
        """Continue with the models saved before a restart (the next replan keeps those whose chart or
        custom model still exists); the warm start then learns only the history since they were saved."""
        loaded = self.store.load(self.config.fingerprint())
        if loaded is None:
            return
        models = loaded.payload
        if not isinstance(models, list) or not all(isinstance(m, StreamingModel) for m in models):
            self.log.warning(f"{self.store.path} holds no streaming models; starting fresh")
            return
        self.bank.adopt(models)
        self._history_after = int(loaded.saved_at)
        age_min = (time.time() - loaded.saved_at) / 60
        self.log.info(f"restored {len(models)} streaming models saved {age_min:.0f} min ago from "
                      f"{self.store.path}")

    def _save_due(self) -> bool:
        return (self.store is not None and self.cycle % self.config.save_state_every_n == 0
                and (self._saver is None or not self._saver.is_alive()))

    def _save(self) -> None:
        """Pickle the models into a file now, between two cycles, and sync and rename it in the
        background. The first save says what saving costs (the file is about as large as the models'
        learned state)."""
        started = time.monotonic()
        temp_path = self.store.write_temp(self.config.fingerprint(), self.bank.models)
        if temp_path is None:
            return
        if self._saver is None:
            self.log.info(f"saving {len(self.bank.models)} models to {self.store.path} every "
                          f"{self.config.save_state_every_n} cycles: {os.path.getsize(temp_path) / 1e6:.1f} MB, "
                          f"{time.monotonic() - started:.2f}s of a cycle")
        self._saver = threading.Thread(target=self.store.commit, args=(temp_path,), daemon=True,
                                       name=f"{self.module}-save")
        self._saver.start()

    # -- warm start ------------------------------------------------------------------------------------

    def _start_warm_start(self) -> None:
        before = int(time.time())
        after = before - self.config.warm_start_span_secs()
        if self._history_after is not None:
            after = min(max(after, self._history_after), before - 1)
        self._warm_starter = threading.Thread(target=self._warm_start, args=(after, before), daemon=True,
                                              name=f"{self.module}-warm-start")
        self._warm_starter.start()

    def _warm_start(self, after: int, before: int) -> None:
        """Worker thread: read the history in a child process (pandas stays out of the plugin), then let
        every model learn it. collect() leaves the models alone until this is done."""
        started = time.monotonic()
        try:
            every = self.config.update_every
            values, warnings = call_in_child("anomalies.history:fetch_history_in_child", self.source.settings,
                                             self.bank.columns, after, before, max(1, (before - after) // every),
                                             every,
                                             timeout=WARM_START_TIMEOUT_S)
            for warning in warnings:
                self.log.warning(f"warm start: {warning}")
            rows = self.bank.learn_history(values)
            self.log.info(f"warm start: {len(self.bank.models)} models learned {rows} samples of history "
                          f"in {time.monotonic() - started:.1f}s")
            self.health.trained(time.monotonic() - started, rows)
        except Exception as error:  # noqa: BLE001 - a failed warm start only means a cold start
            self.log.warning(f"warm start failed ({error!r}); the models start cold")
            self.health.training_failed()

    # -- every cycle -----------------------------------------------------------------------------------

    def collect(self) -> CycleResult:
        """One update cycle: look for new charts when due, read the newest values, score and learn them;
        then the job's own health."""
        started = time.monotonic()
        result = self._collect()
        self.health.updated(time.monotonic() - started)
        result.data.update(self.health.values(self.model_counts))
        return result

    def _collect(self) -> CycleResult:
        self.cycle += 1
        result = CycleResult({})
        if self.cycle == 1 and self.store is not None:
            remove_stale(self.store.directory, self.log)  # every job of the plugin exists by now
        warming = self._warm_starter is not None and self._warm_starter.is_alive()
        if not warming and self._replan_due():
            self._replan(result)
        while self.bank.problems:  # the user's model class failed (said once per model)
            self.log.warning(self.bank.problems.pop(0))
        if self.gatherer is None or not self.bank.models:
            result.data = warming_values()
            return result
        reading = self.reader.read(self.gatherer)
        if reading is None:  # no agent answered: no features across the gap (its diffs would look anomalous)
            self.window.restart()
            return result
        row, samples = reading.row, self.clock.advance(reading.collected_at)
        if samples == 0:  # the agent has not collected since the last read: nothing new to learn
            result.data = self.last_data or warming_values()
            return result
        feature_row = self.window.push(row, missed=(samples or 1) - 1)
        if feature_row is None or warming:
            result.data = warming_values()
            return result
        cycle = stream_cycle(self.bank, self.flagger, feature_row, np.isfinite(row))
        self.pauses.update(self.bank.names, cycle.complete)
        judge = streaming_judge(self.bank.models, self.deviation_rules, len(self.bank.columns),
                                self.feature_spec.levels, row)
        flags, levels = self.gate.apply(self.bank.names, cycle.flags, cycle.levels, self.deviation_rules, judge)
        for i in self.rising.update(self.bank.names, flags):
            self._explain(self.bank.models[i], row)
        if self._save_due():
            self._save()
        warm = self.bank.warm()
        # a model shows values once warm (no flag before, and no made-up level); rrcf's first shingle has
        # no score yet. Warming up are the models learning now: one without input is paused, not warming.
        shown = cycle.complete & np.isfinite(cycle.probabilities) & warm
        learning = max(1, int(cycle.complete.sum()))
        self.model_counts = (int(shown.sum()), int((~cycle.complete).sum()),
                             int((cycle.complete & ~shown).sum()), 0)
        result.data = chart_values(self.dimension_ids, shown, levels, flags, cycle.normalized,
                                   self.config.include_average_prob, (cycle.complete & ~warm).sum() / learning)
        if self.bands.charts:
            result.data.update(self.bands.values(streaming_band(self.bank.models, self.bands.charts,
                                                                len(self.bank.columns))))
        self.last_data = result.data
        return result

    def _explain(self, model: StreamingModel, row: np.ndarray) -> None:
        """One log line naming what drives a model whose flag just rose (a failure only costs the line)."""
        def explain() -> str:
            shares, band = streaming_parts(model, len(self.bank.columns), self.feature_spec.levels)
            return describe_flag(model.spec.name, self.bank.columns, shares, row, band, model.column_index,
                                 band_index=np.arange(len(model.column_index)))
        log_explanation(self.log, model.spec.name, explain)

    def _replan_due(self) -> bool:
        if self.last_plan_cycle is None:
            return True
        every = REPLAN_EVERY_N if self.bank.models else RETRY_PLAN_EVERY_N
        return self.cycle - self.last_plan_cycle >= every
