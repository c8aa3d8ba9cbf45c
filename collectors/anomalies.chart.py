# -*- coding: utf-8 -*-
# Description: anomalies python.d module: offline PyOD anomaly detection on Netdata charts
# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin python.d module: the work is done by `anomalies.job.AnomaliesJob`, from the product's venv."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from netdata_anomalies_service import service_class  # noqa: E402 - found through the line above

disabled_by_default = True
update_every = 1
priority = 90000

Service = service_class('anomalies.job:AnomaliesJob', 'anomalies', __name__)
