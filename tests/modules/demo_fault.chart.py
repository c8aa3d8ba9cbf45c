# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A python.d module for tests: one chart `demo_fault_local.level` whose value is a deterministic wave
around 100 until the file named by `fault_file` exists, then 300 higher (an injected fault)."""
import math
import os
import time

from bases.FrameworkServices.SimpleService import SimpleService

ORDER = ["level"]
CHARTS = {"level": {"options": [None, "Injected fault", "units", "demo", "demo.level", "line"],
                    "lines": [["value", None, "absolute", 1, 1000]]}}


class Service(SimpleService):
    def __init__(self, configuration=None, name=None):
        SimpleService.__init__(self, configuration=configuration, name=name)
        self.order = ORDER
        self.definitions = CHARTS
        self.fault_file = self.configuration.get("fault_file", "")

    def check(self):
        return True

    def get_data(self):
        t = int(time.time())
        value = 100 + 5 * math.sin(t / 7.0) + 2 * math.sin(t * 1.3)
        if self.fault_file and os.path.exists(self.fault_file):
            value += 300
        return {"value": int(value * 1000)}
