# SPDX-License-Identifier: GPL-3.0-or-later
"""The first training of an offline job waits until the agent holds enough history: models trained on a
few minutes of a young agent flag much of what the next minutes bring (see README, "The first hour")."""
from __future__ import annotations

import time
from typing import Optional

from .cycle import Logger
from .netdata_source import NetdataSource, describe_error


class HistoryGate:
    """Opens once `host` has `needed_secs` of history; asked every cycle, it asks the agent every
    `check_every_n` cycles. Says once that it waits (and until about when), once that the agent cannot be
    reached, and once when it opens."""

    def __init__(self, source: NetdataSource, host: str, needed_secs: int, log: Logger, check_every_n: int):
        self.source = source
        self.host = host
        self.needed_secs = needed_secs
        self.log = log
        self.check_every_n = check_every_n
        self.open_ = needed_secs <= 0
        self.last_check_: Optional[int] = None
        self.said_waiting_ = False
        self.said_unreachable_ = False

    def ready(self, cycle: int) -> bool:
        """Has the agent enough history for the first training (asking it if a check is due)?"""
        if self.open_:
            return True
        if self.last_check_ is not None and cycle - self.last_check_ < self.check_every_n:
            return False
        self.last_check_ = cycle
        try:
            have = self.source.history_seconds(self.host)
        except Exception as error:  # noqa: BLE001 - agent down or restarting: wait, say it once
            if not self.said_unreachable_:
                self.log.warning(f"cannot reach the agent at '{self.host}': {describe_error(error)}; the first "
                                 "training waits until it answers")
                self.said_unreachable_ = True
            return False
        if self.said_unreachable_:
            self.log.info(f"'{self.host}' answers again")
            self.said_unreachable_ = False
        if have >= self.needed_secs:
            self.open_ = True
            if self.said_waiting_:
                self.log.info(f"'{self.host}' has {have / 60:.0f} minutes of history now: training the first "
                              "models")
            return True
        if not self.said_waiting_:
            ready_at = time.strftime("%H:%M", time.localtime(time.time() + self.needed_secs - have))
            self.log.info(f"warming up: '{self.host}' has {have / 60:.0f} of the {self.needed_secs / 60:.0f} "
                          f"minutes of history the first models need (min_train_secs); no model and no flag "
                          f"before about {ready_at}")
            self.said_waiting_ = True
        return False
