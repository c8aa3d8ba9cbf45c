# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What both python.d modules of netdata-anomalies share: finding the product's venv, and a python.d
`Service` that delegates every cycle to a job object of the product's packages."""

import glob
import importlib
import os
import site
import sys

from bases.FrameworkServices.SimpleService import SimpleService


def add_venv_to_path():
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


def service_class(job_path, module, chart_module):
    """A python.d `Service` whose jobs are `job_path` ('package.module:Class') objects. `chart_module` is
    the `__name__` of the *.chart.py file: python.d names charts and logs after the Service's module."""
    venv, venv_found = add_venv_to_path()
    module_name, class_name = job_path.split(':')
    try:
        job_class = getattr(importlib.import_module(module_name), class_name)
        import_error = None
    except ImportError as error:  # reported by check(), so the plugin keeps running its other modules
        job_class, import_error = None, error

    class Service(SimpleService):
        """python.d job: charts come from the job object, dimensions follow the models it runs."""

        job_import_error = import_error

        def __init__(self, configuration=None, name=None):
            SimpleService.__init__(self, configuration=configuration, name=name)
            self.job = None
            self.data = {}
            if job_class is not None:
                self.job = job_class(self.configuration, log=self, module=module, job_name=self.name)
                self.order, self.definitions = self.job.chart_definitions()

        def check(self):
            if self.job is None:
                self.error("cannot import {0} from venv '{1}' (found: {2}): {3}; run install.sh".format(
                    module_name, venv, venv_found, import_error))
                return False
            return self.job.check()

        def update(self, interval):
            result = self.job.collect()
            self.data = result.data
            for chart_id, definition in result.new_charts:
                if chart_id not in self.charts:
                    chart = self.charts.add_chart([chart_id] + definition['options'])
                    for line in definition['lines']:
                        chart.add_dimension(line)
            for chart_id, dimension in result.added:
                if chart_id in self.charts and dimension[0] not in self.charts[chart_id]:
                    self.charts[chart_id].add_dimension(dimension)
            for chart_id, dimension_id in result.removed:
                if chart_id in self.charts:
                    self.charts[chart_id].del_dimension(dimension_id, hide=False)
            if not result.data:
                # Nothing to draw yet (models still training or warming up): not a failure, no retry penalty.
                return True
            return SimpleService.update(self, interval)

        def get_data(self):
            return self.data

    Service.__module__ = chart_module
    return Service
