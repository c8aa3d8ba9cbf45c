# SPDX-License-Identifier: GPL-3.0-or-later
"""`bench/accuracy --quick` replays labelled data through the pipeline and prints well-formed metrics.

It checks that the benchmark runs, not how good the scores are. It uses the labelled data in
<repo>/../shared/eval with the committed Netdata recording, or the recording alone where that data is absent.
"""
import math
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "..", "shared", "eval")
RECORDINGS = os.path.join(REPO, "bench", "data", "netdata")  # committed: the test always has data
EXPECTED = ["ours-pca (defaults) · server model", "ours-pca (defaults) · per-metric models",
            "upstream-pca (predict_proba/predict) · server model",
            "upstream-pca (predict_proba/predict) · per-metric models",
            "netdata-kmeans (18 models, consensus) · per-dimension share",
            "netdata-kmeans (1 model) · per-dimension share", "ours-hbos · server model",
            "online-zscore (defaults) · server model", "online-zscore (defaults) · per-metric models"]
FRACTIONS = ["AUC-PR", "Event F1", "P", "R", "F1 mean/series", "PA-F1 (flatters; literature only)",
             "random PA-F1"]


def test_quick_accuracy_run_prints_well_formed_tables(tmp_path):
    command = [sys.executable, os.path.join(REPO, "bench", "accuracy"), "--quick", "--out", str(tmp_path)]
    data_sets = ["smd", "asd", "nab"]
    if not all(os.path.isdir(os.path.join(DATA, d)) for d in data_sets):
        command += ["--data", RECORDINGS]
        data_sets = []
    run = subprocess.run(command, capture_output=True, text=True, timeout=170)
    assert run.returncode == 0, run.stderr[-3000:]
    sections = re.split(r"^## ", run.stdout, flags=re.M)[1:]
    assert [s.split(" ")[0] for s in sections] == ["All"] + data_sets + ["netdata"]
    for section in sections:
        lines = [line for line in section.splitlines() if line.startswith("| ")]
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        rows = {cells[0]: dict(zip(header, cells)) for cells in
                ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])}
        assert list(rows) == EXPECTED
        for name, row in rows.items():
            for column in FRACTIONS:
                value = float(row[column])
                assert math.isfinite(value) and 0 <= value <= 1, (section.split()[0], name, column, value)
            found, events = map(int, row["found/events"].split("/"))
            assert 0 <= found <= events and events > 0
            assert float(row["FA/day"]) >= 0 and 0 <= float(row["flag %"]) <= 100
    assert os.path.isfile(next(iter(tmp_path.glob("accuracy-quick-*.md"))))
    assert "checks: all metrics finite and in range" in run.stderr
