# -*- coding: utf-8 -*-
# Description: anomalies python.d module: offline PyOD anomaly detection on Netdata charts
# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin python.d module: finds the product's venv, then delegates every cycle to `anomalies.job`."""

import glob
import os
import site
import sys

from bases.FrameworkServices.SimpleService import SimpleService

disabled_by_default = True
update_every = 1
priority = 90000


def _add_venv_to_path():
    """Put the product's venv (with its .pth files) first on sys.path: $NETDATA_ANOMALIES_VENV, else
    <install prefix>/venv, the prefix being the parent of the directory this file really lives in."""
    here = os.path.dirname(os.path.realpath(__file__))
    venv = os.environ.get('NETDATA_ANOMALIES_VENV') or os.path.join(here, os.pardir, 'venv')
    site_dirs = glob.glob(os.path.join(venv, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages'))
    before = list(sys.path)
    for site_dir in site_dirs:
        site.addsitedir(site_dir)
    sys.path[:] = [p for p in sys.path if p not in before] + before
    return os.path.abspath(venv), bool(site_dirs)


VENV, VENV_FOUND = _add_venv_to_path()
try:
    from anomalies.job import AnomaliesJob
    IMPORT_ERROR = None
except ImportError as error:  # reported by check(), so the plugin keeps running its other modules
    AnomaliesJob = None
    IMPORT_ERROR = error


class Service(SimpleService):
    """python.d job: charts come from the job object, dimensions follow the models it trains."""

    def __init__(self, configuration=None, name=None):
        SimpleService.__init__(self, configuration=configuration, name=name)
        self.job = None
        self.data = {}
        if AnomaliesJob is not None:
            self.job = AnomaliesJob(self.configuration, log=self, module='anomalies')
            self.order, self.definitions = self.job.chart_definitions()

    def check(self):
        if self.job is None:
            self.error("cannot import the anomalies package from venv '{0}' (found: {1}): {2}; "
                       "run install.sh".format(VENV, VENV_FOUND, IMPORT_ERROR))
            return False
        return self.job.check()

    def update(self, interval):
        result = self.job.collect()
        self.data = result.data
        for chart_id, dimension in result.added:
            if chart_id in self.charts and dimension[0] not in self.charts[chart_id]:
                self.charts[chart_id].add_dimension(dimension)
        for chart_id, dimension_id in result.removed:
            if chart_id in self.charts:
                self.charts[chart_id].del_dimension(dimension_id, hide=False)
        if not result.data:
            # Nothing to draw yet (first training still running): not a failure, so no retry penalty.
            return True
        return SimpleService.update(self, interval)

    def get_data(self):
        return self.data
