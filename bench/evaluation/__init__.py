# SPDX-License-Identifier: GPL-3.0-or-later
"""Accuracy benchmark of the anomalies collector: labelled series replayed through the collector's own
pipeline (see bench/accuracy)."""
