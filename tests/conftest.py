# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures several test modules share."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def model_path():
    """A directory only root can write (under /opt: no world-writable directory above it), holding the
    README's example classes."""
    if os.geteuid() != 0:
        pytest.skip("a model_path must belong to root")
    directory = Path(tempfile.mkdtemp(prefix="na-models-", dir="/opt"))
    os.chmod(directory, 0o755)
    shutil.copy(HERE / "user_models" / "my_detectors.py", directory / "my_detectors.py")
    yield str(directory)
    shutil.rmtree(directory)
