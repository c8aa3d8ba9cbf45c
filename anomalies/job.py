# SPDX-License-Identifier: GPL-3.0-or-later
"""One python.d job of the `anomalies` module: trains in the background, scores every cycle."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import charts
from .config import Config, parse_config
from .features import FeatureSpec, FeatureWindow
from .attribution import RisingFlags, describe_flag, log_explanation, offline_shares
from .band_charts import BandCharts
from .deviation import DeviationGate, offline_judge
from .flags import flagger_for, note_training, rule_text
from .health import JobHealth
from .memory import keep_large_blocks_in_mmap
from .cycle import (CycleResult, LatestReader, Logger, PauseReporter, RepeatFilter, chart_values,
                    report_config_problems, warming_values)
from .netdata_source import NetdataSource, RowGatherer
from .planning import list_charts, plan_models
from .scoring import score_cycle
from .child_process import call_in_child
from .collection_clock import CollectionClock
from .stale_state import remove_stale
from .state_store import job_store
from .training import RETRY_TRAINING_EVERY_N, TrainedState, cycles_to_next_training
from .warmup import HistoryGate


class AnomaliesJob:
    """Config → (re)training in the background → per-cycle probability, flag and score per model."""

    def __init__(self, configuration: Dict[str, Any], log: Logger, module: str = "anomalies",
                 job_name: Optional[str] = None):
        keep_large_blocks_in_mmap()  # the plugin's jobs share one process: see anomalies.memory
        self.log = log
        self.module = module
        self.configuration = dict(configuration)
        self.config: Config = parse_config(configuration)
        self.store = job_store(self.config.save_state, job_name, log, self.config.model)
        self._restore_pending = self.store is not None
        self.feature_spec = FeatureSpec.from_config(self.config)
        self.flagger = flagger_for(self.config)
        self.source = NetdataSource.for_config(self.config)
        self.state: Optional[TrainedState] = None
        self.window: Optional[FeatureWindow] = None
        self.gatherer: Optional[RowGatherer] = None
        self.dimension_ids: Dict[str, List[str]] = {}
        self.cycle = 0
        self.last_training_cycle: Optional[int] = None
        self.hold_cycles = 0
        self.last_data: Dict[str, int] = {}
        self.health = JobHealth()
        self.reader = LatestReader(self.source, log, self.health)
        self.clock = CollectionClock(self.config.update_every)
        self.pauses = PauseReporter(log)
        self.rising = RisingFlags()
        self.gate = DeviationGate()
        self.model_counts: Optional[Tuple[int, int, int, int]] = None  # active, paused, warming up, untrained
        self._trainer: Optional[threading.Thread] = None
        self._trained: Optional[TrainedState] = None
        self.training_warnings = RepeatFilter(log)
        self.bands = BandCharts(self.config.band_charts, self.config.host, module)
        self.band_values: Dict[str, int] = {}
        self.history_gate = HistoryGate(self.source, self.config.host, self.config.history_needed_secs(), log,
                                        RETRY_TRAINING_EVERY_N)

    def chart_definitions(self) -> Tuple[List[str], Dict[str, dict]]:
        c = self.config
        return charts.definitions(self.module, c.include_average_prob, rule_text(c),
                                  "the training threshold")

    def check(self) -> bool:
        """Report every configuration problem once; the job runs with defaults in their place."""
        return report_config_problems(self.config, self.log)

    # -- training ------------------------------------------------------------------------------------

    def _training_due(self) -> bool:
        if self._trainer is not None:
            return False
        if self.last_training_cycle is None:
            return True
        since = self.cycle - self.last_training_cycle
        if self.state is None or not self.state.bank.names:
            return since >= RETRY_TRAINING_EVERY_N
        wait = cycles_to_next_training(self.config, self.state.rows)
        return wait > 0 and since >= wait

    def _training_window(self) -> Tuple[int, int]:
        c = self.config
        if self.last_training_cycle is None and c.initial_train_data_after and c.initial_train_data_before:
            return c.initial_train_data_after, c.initial_train_data_before
        before = int(time.time()) - c.offset_n_secs
        return before - c.train_n_secs, before

    def _start_training(self) -> None:
        self.health.training_due()
        after, before = self._training_window()
        self.last_training_cycle = self.cycle
        self._trainer = threading.Thread(target=self._train, args=(after, before), daemon=True,
                                         name=f"{self.module}-training")
        self._trainer.start()

    def _train(self, after: int, before: int) -> None:
        """Worker thread: train in a child process; the result is picked up by collect()."""
        warnings: List[str] = []
        try:
            outcome = call_in_child("anomalies.training:train_from_settings", self.configuration, after, before)
            warnings = outcome.warnings
            if outcome.state is not None:
                self.log.info(f"trained {len(outcome.state.bank.names)} models in {outcome.seconds:.2f}s "
                              f"({outcome.state.rows} rows of {len(outcome.state.columns)} dimensions, model "
                              f"{self.config.model}; {outcome.import_seconds:.2f}s more to import libraries)")
                if self.store is not None:
                    self.store.save(self.config.fingerprint(), outcome.state)
                self._trained = outcome.state
                self.health.trained(outcome.seconds, outcome.state.rows)
            else:
                self.health.training_failed()
        except Exception as error:  # noqa: BLE001 - a failed training keeps the previous models
            warnings.append(f"training failed: {error!r}")
            self.health.training_failed()
        finally:
            self.training_warnings.log_new(warnings)

    def _restore_saved(self, result: CycleResult) -> None:
        """Serve the models saved before a restart if they fit the configuration and the charts there are
        now; the next training is then due when it would have been without the restart. Tried again each
        cycle while no agent answers (and nothing is trained)."""
        ignored: List[str] = []  # the training reports what is wrong with the agent or the charts
        charts_by_host = list_charts(self.source, self.config.hosts(), ignored.append)
        if not charts_by_host:
            return
        self._restore_pending = False
        loaded = self.store.load(self.config.fingerprint())
        if loaded is None:
            return
        state = loaded.payload
        if not isinstance(state, TrainedState):
            self.log.warning(f"{self.store.path} holds no trained models; training fresh")
            return
        planned = {spec.name: spec.columns for spec in plan_models(
            self.config, charts_by_host, ignored.append, self.config.custom_models_normalize)}
        misfits = [model.name for model in state.bank.models
                   if planned.get(model.name) != tuple(state.columns[i] for i in model.column_index)]
        if misfits:
            self.log.info(f"saved models do not fit the charts there are now ({', '.join(misfits[:3])}"
                          f"{', ...' if len(misfits) > 3 else ''}); training fresh")
            return
        self._trained = state
        self._swap_in_trained(result, restored=True)
        age = max(0.0, time.time() - loaded.saved_at)
        self.last_training_cycle = self.cycle - int(age / self.config.update_every)
        self.health.trained(None, state.rows, ago=age)
        self.log.info(f"restored {len(state.bank.names)} models trained {age / 60:.0f} min ago from "
                      f"{self.store.path}")

    def _swap_in_trained(self, result: CycleResult, restored: bool = False) -> None:
        """Make the newly trained (or restored) models current. After a training the feature window
        continues from what was collected; restored models start from an empty window (the rows saved
        with them are from before the restart) and score as soon as it is full."""
        state, self._trained = self._trained, None
        old_names = set(self.state.bank.names) if self.state else set()
        new_names = set(state.bank.names)
        for name in sorted(new_names - old_names):
            result.added.extend(charts.model_dimensions(name))
        for name in sorted(old_names - new_names):
            result.removed.extend((chart, dim[0]) for chart, dim in charts.model_dimensions(name))
        self.flagger.forget(old_names - new_names)
        note_training(self.flagger, state.rows * self.config.update_every)
        recent = np.empty((0, len(state.columns))) if restored else self._recent_values(state)
        self.window = FeatureWindow(self.feature_spec, recent)
        self.gatherer = RowGatherer(state.columns)
        self.dimension_ids = {chart: [charts.dimension_id(name, chart) for name in state.bank.names]
                              for chart in charts.MODEL_CHARTS}
        self.state = state
        result.new_charts.extend(self.bands.plan(state.columns))
        self.band_values = self.bands.values(state.band)  # constant until the next training
        self.deviation_rules = self.config.deviation_rules(state.bank.names)
        self.hold_cycles = 0 if restored else self.config.train_no_prediction_n

    def _recent_values(self, state: TrainedState) -> np.ndarray:
        """Raw rows to continue from: what this job already collected, else the end of the training data."""
        recent = np.array(state.recent_values, dtype=np.float64)
        if self.window is not None and self.state is not None and len(self.window.rows_) == len(recent):
            old_index = {column: i for i, column in enumerate(self.state.columns)}
            for j, column in enumerate(state.columns):
                if column in old_index:
                    recent[:, j] = self.window.rows_[:, old_index[column]]
        return recent

    # -- every cycle -----------------------------------------------------------------------------------

    def collect(self) -> CycleResult:
        """One update cycle: start or finish training as due, read the latest values, score; then the
        job's own health."""
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
        if self._restore_pending and self.state is None and self._trainer is None:
            self._restore_saved(result)
        if self._trainer is not None and not self._trainer.is_alive():
            self._trainer = None
            if self._trained is not None:
                self._swap_in_trained(result)
        if self._training_due() and self.history_gate.ready(self.cycle):
            self._start_training()
        if self.state is None or not self.state.bank.names:
            result.data = warming_values()
            return result
        reading = self.reader.read(self.gatherer)
        if reading is None:  # no agent answered: no features across the gap (its diffs would look anomalous)
            self.window.restart()
            return result
        row, samples = reading.row, self.clock.advance(reading.collected_at)
        if samples == 0:  # the agent has not collected since the last read: nothing new to score
            result.data = self.last_data
            return result
        feature_row = self.window.push(row, missed=(samples or 1) - 1)
        if self._trainer is not None or self.hold_cycles > 0:
            self.hold_cycles = max(0, self.hold_cycles - 1)
            result.data = self.last_data
            return result
        if feature_row is not None:
            result.data = self._score(feature_row, row)
            self.last_data = result.data
        return result

    def _score(self, feature_row: np.ndarray, row: np.ndarray) -> Dict[str, int]:
        bank = self.state.bank
        cycle = score_cycle(bank, self.flagger, feature_row, np.isfinite(row))
        self.pauses.update(bank.names, cycle.complete)
        state = self.state
        flags, levels = self.gate.apply(bank.names, cycle.flags, cycle.levels, self.deviation_rules, offline_judge(
            bank.models, self.deviation_rules, state.band, len(state.columns), feature_row, row))
        for i in self.rising.update(bank.names, flags):
            self._explain(bank.models[i], feature_row, row)
        active = int(cycle.complete.sum())
        untrained = max(0, (state.planned or 0) - len(bank.names))
        self.model_counts = (active, len(bank.names) - active, 0, untrained)
        data = chart_values(self.dimension_ids, cycle.complete, levels, flags, cycle.normalized,
                            self.config.include_average_prob)
        data.update(self.band_values)
        return data

    def _explain(self, model, feature_row: np.ndarray, row: np.ndarray) -> None:
        """One log line naming what drives a model whose flag just rose (a failure only costs the line)."""
        state = self.state
        if state.band is None:  # models restored from a state saved before bands existed
            return
        log_explanation(self.log, model.name, lambda: describe_flag(
            model.name, state.columns, offline_shares(model, feature_row, len(state.columns)), row, state.band,
            model.column_index))
