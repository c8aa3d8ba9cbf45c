# SPDX-License-Identifier: GPL-3.0-or-later
"""netdata-anomalies, streaming: detectors that learn from every new sample (python.d module `anomalies_online`)."""
