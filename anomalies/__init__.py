# SPDX-License-Identifier: GPL-3.0-or-later
"""netdata-anomalies: offline (PyOD) anomaly detection for Netdata charts."""
