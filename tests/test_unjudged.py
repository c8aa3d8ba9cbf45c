# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/unjudged: marking unplanned activity in a recording's scored part as not judged."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _recording(folder: Path) -> None:
    folder.mkdir()
    stamps = list(range(1000, 1020))
    pd.DataFrame({"timestamp": stamps, "part": ["train"] * 10 + ["test"] * 10}).to_csv(
        folder / "timestamps.csv.gz", index=False)
    label = [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    pd.DataFrame({"system.cpu|user": range(10), "label": label}).to_csv(folder / "test.csv.gz", index=False)
    (folder / "README.md").write_text("# recording\n")


def test_unjudged_reads_the_windows_file_bench_record_writes(tmp_path):
    """The activity file as bench/record writes it (a `start,end,what` header) marks idle test rows -1,
    keeps a fault's rows at 1 and leaves rows outside the padded window alone."""
    folder = tmp_path / "netdata-x"
    _recording(folder)
    activity = tmp_path / "foreign-load.csv"
    activity.write_text("start,end,what\n1012.000,1014.000,12 cpu-s of other processes\n")
    subprocess.run([sys.executable, str(REPO / "bench" / "unjudged"), str(folder), str(activity),
                    "--before", "0", "--after", "2"], check=True, capture_output=True)
    label = pd.read_csv(folder / "test.csv.gz")["label"].tolist()
    assert label == [0, 0, 1, 1, -1, -1, -1, 0, 0, 0]
    assert "Not judged: 3 test rows" in (folder / "README.md").read_text()
    assert (folder / "unjudged.csv").read_text().splitlines()[0] == "start,end,what"
