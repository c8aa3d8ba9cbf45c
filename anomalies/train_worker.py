# SPDX-License-Identifier: GPL-3.0-or-later
"""Training in a child process, so the python.d plugin never holds PyOD, pandas or training data.

The parent sends (configuration, after, before) on the child's stdin and reads back the pickled
`TrainingOutcome` on its stdout: a private pipe between two processes of this project, never a file.
Importing PyOD costs ~200 MB; the child gives it back to the system when it exits.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any, Dict

import anomalies
from .config import parse_config
from .training import TrainingOutcome, train

TRAINING_TIMEOUT_S = 1800


def train_in_subprocess(configuration: Dict[str, Any], after: int, before: int) -> TrainingOutcome:
    """Run one training in a fresh interpreter (the one running us) that sees the same packages."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(anomalies.__file__)))
    # One BLAS thread: small matrices are faster that way (a 60x60 eigh: 0.3 ms against 1.3 ms with two
    # OpenBLAS threads), and training never takes every core from the machine it watches.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent] + [p for p in sys.path if p]),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    request = pickle.dumps({"configuration": configuration, "after": after, "before": before})
    child = subprocess.run([sys.executable, "-m", "anomalies.train_worker"], input=request,
                           capture_output=True, env=env, timeout=TRAINING_TIMEOUT_S)
    if child.returncode != 0:
        last_lines = " | ".join(child.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise RuntimeError(f"training process exited with {child.returncode}: {last_lines}")
    return pickle.loads(child.stdout)


def main() -> None:
    """Child side: anything printed goes to stderr; stdout carries only the result."""
    result = sys.stdout.buffer
    sys.stdout = sys.stderr
    request = pickle.load(sys.stdin.buffer)
    outcome = train(parse_config(request["configuration"]), request["after"], request["before"])
    pickle.dump(outcome, result)
    result.flush()


if __name__ == "__main__":
    main()
