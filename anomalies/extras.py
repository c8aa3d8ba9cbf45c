# SPDX-License-Identifier: GPL-3.0-or-later
"""Models whose libraries come with the `full` extra, which `install.sh --lean` leaves out (the numpy-only
models, offline `zscore`, `zmax`, `knn` and `pca` and streaming `zscore`, need nothing more). A configuration
naming a model whose library is missing gets one problem line that says how to add it, and the module's
default model."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

DISTRIBUTION = "netdata-anomalies"
# import name -> the distribution pip installs for it, where the two differ
_DISTRIBUTIONS = {"pkg_resources": "setuptools"}


def _pip() -> str:
    """The pip of the venv this package is installed in (install.sh's <prefix>/venv/bin/pip), else 'pip'."""
    here = Path(__file__).resolve()
    for venv in (*here.parents, Path(sys.prefix)):
        if (venv / "pyvenv.cfg").is_file():
            return str(venv / "bin" / "pip")
    return "pip"


def _requirement(library: str) -> str:
    """What to give pip for `library`: this package's requirement of it (quoted, with the versions it
    supports), else its distribution name."""
    name = _DISTRIBUTIONS.get(library, library)
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        spec = requirement.partition(";")[0].strip()
        if re.match(rf"{re.escape(name)}\s*(?:[<>=!~\[]|$)", spec, re.I):
            return f"'{spec}'"
    return name


def missing_library(model: str, libraries: Mapping[str, Sequence[str]]) -> Optional[str]:
    """Why `model` cannot run here, or None if it can: the first library it imports (`libraries[model]`,
    import names) that is not installed, and how to add it."""
    for library in libraries.get(model, ()):
        if importlib.util.find_spec(library) is None:
            return (f"model '{model}' needs {library}, which is not installed (a --lean install): run "
                    f"./install.sh without --lean, or {_pip()} install {_requirement(library)}")
    return None


def installed_only(parse: Callable[[Any], str],
                   libraries: Mapping[str, Sequence[str]]) -> Callable[[Any], str]:
    """A model-name parser like `parse` that also refuses a model whose library is not installed: its
    ValueError says which library and how to add it, and the job runs the default model instead (as
    `anomalies.config.parse_settings` does with any invalid value)."""
    def parse_installed(value: Any) -> str:
        name = parse(value)
        problem = missing_library(name, libraries)
        if problem is not None:
            raise ValueError(problem)
        return name
    return parse_installed
