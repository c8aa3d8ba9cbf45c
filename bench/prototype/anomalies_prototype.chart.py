# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bench-only reconstruction of the never-merged `anomalies_online` prototype, as ../shared/UPSTREAM.md
describes it, to measure its cost beside ours in the same run (bench/online_cycle.py): per chart, each
cycle the newest diff/smooth/lag feature row goes to an rrcf forest (10 trees of 256, shingle 4), the
score to PySAD's GaussianTailProbabilityCalibrator over 1000 scores, a running average of 15, and a flag
when that probability is >= 0.9. Not part of the product."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), os.pardir, os.pardir, 'collectors'))
from netdata_anomalies_service import add_venv_to_path  # noqa: E402

add_venv_to_path()
import numpy as np  # noqa: E402
from bases.FrameworkServices.SimpleService import SimpleService  # noqa: E402
from pysad.transform.postprocessing import RunningAveragePostprocessor  # noqa: E402
from pysad.transform.probability_calibration import GaussianTailProbabilityCalibrator  # noqa: E402

from anomalies.columns import Column  # noqa: E402
from anomalies.features import FeatureSpec, FeatureWindow  # noqa: E402
from anomalies.netdata_source import NetdataSource, RowGatherer  # noqa: E402
from anomalies_online.detectors import RRCFDetector  # noqa: E402

disabled_by_default = True
update_every = 1
priority = 90020


class Service(SimpleService):
    def __init__(self, configuration=None, name=None):
        SimpleService.__init__(self, configuration=configuration, name=name)
        self.host = self.configuration.get('host', '127.0.0.1:19999')
        self.prefix = self.configuration.get('charts_prefix', 'system.')
        self.exclude = set(self.configuration.get('charts_to_exclude', 'system.uptime,system.entropy').split(','))
        self.source = NetdataSource()
        self.spec = FeatureSpec(1, 3, 5)
        self.order = ['probability', 'anomaly']
        self.definitions = {
            'probability': {'options': [None, 'Prototype probability', 'probability', 'anomalies',
                                        'anomalies_prototype.probability', 'line'], 'lines': []},
            'anomaly': {'options': [None, 'Prototype anomaly', 'count', 'anomalies',
                                    'anomalies_prototype.anomaly', 'stacked'], 'lines': []},
        }
        self.models = {}

    def check(self):
        charts = {c: d for c, d in self.source.chart_dimensions(self.host).items()
                  if c.startswith(self.prefix) and c not in self.exclude and d}
        self.columns = [Column(self.host, c, d) for c in sorted(charts) for d in charts[c]]
        self.gatherer = RowGatherer(self.columns)
        self.window = FeatureWindow(self.spec, np.empty((0, len(self.columns))))
        for chart in sorted(charts):
            index = np.array([i for i, c in enumerate(self.columns) if c.chart == chart])
            self.models[chart] = (self.spec.feature_index(index, len(self.columns)), RRCFDetector(10, 256, 4),
                                  GaussianTailProbabilityCalibrator(window_size=1000),
                                  RunningAveragePostprocessor(window_size=15))
            self.definitions['probability']['lines'].append([chart + '_prob', chart + '_prob', 'absolute', 1, 100])
            self.definitions['anomaly']['lines'].append([chart + '_anomaly', chart + '_anomaly', 'absolute'])
        return bool(self.models)

    def update(self, interval):
        self.data = self.compute()
        # while the feature window and the first shingle fill there is nothing to send: not a failure
        return SimpleService.update(self, interval) if self.data else True

    def get_data(self):
        return self.data

    def compute(self):
        row = self.gatherer.row({self.host: self.source.latest(self.host, list(self.gatherer.charts()[self.host]))})
        features = self.window.push(row)
        if features is None:
            return None
        data = {}
        for chart, (index, forest, calibrator, average) in self.models.items():
            score = forest.score_learn_one(features[index])
            if score != score:
                continue
            probability = float(average.fit_transform_partial(calibrator.fit_transform_partial(score)))
            data[chart + '_prob'] = int(probability * 10000)
            data[chart + '_anomaly'] = int(probability >= 0.9)
        return data
