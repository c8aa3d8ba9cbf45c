# SPDX-License-Identifier: GPL-3.0-or-later
"""Models of the user's own: `model: 'package.module:Class'` in either module's conf, constructed with the
job's `model_args`.

- `anomalies` takes any class with scikit-learn/PyOD-style `fit(X)` and `decision_function(X)` (higher is
  more anomalous): PyOD's own detectors (`pyod.models.knn:KNN`) work as they are.
- `anomalies_online` takes any class with river-style `learn_one(x)` and `score_one(x)` (a dict of features
  in, a float out): river's detectors (`river.anomaly:HalfSpaceTrees`) work as they are.

Only code the product's venv can import, or code in a `model_path` directory that only root can write
(it and every directory above it owned by root and writable by no one else), is loaded: a conf is read by
the agent's user, and code it names runs inside the agent's plugin.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

REFERENCE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)$")
OFFLINE_METHODS = ("fit", "decision_function")
STREAMING_METHODS = ("learn_one", "score_one")


def is_reference(model: str) -> bool:
    """Whether a `model` value names a class (`package.module:Class`) rather than a built-in model."""
    return bool(REFERENCE.match(str(model)))


def parse_model_args(value: Any) -> Dict[str, Any]:
    """`model_args`: a mapping of keyword arguments (empty when unset)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k.isidentifier() for k in value):
        raise ValueError("must be a mapping of argument names to values, e.g. {n_neighbors: 10}")
    return dict(value)


def parse_model_path(value: Any) -> Optional[str]:
    """`model_path`: a directory of the user's model code that only root can write, or none."""
    if value in (None, ""):
        return None
    path = os.path.abspath(str(value))
    problem = _writable_by_others(path)
    if problem:
        raise ValueError(problem)
    return path


def _writable_by_others(path: str) -> Optional[str]:
    """Why code in `path` must not be trusted (None when it and every directory above it are directories
    owned by root that no one else can write)."""
    if not os.path.isdir(path):
        return f"{path} is not a directory"
    current = Path(path)
    for directory in (current, *current.parents):
        info = os.stat(directory)
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return (f"{directory} can be written by someone other than root (owner uid {info.st_uid}, mode "
                    f"{stat.S_IMODE(info.st_mode):o}): code there is not loaded")
    return None


def product_site_packages() -> Path:
    """The site-packages directory of the product's venv (where its numpy lives)."""
    import numpy

    return Path(numpy.__file__).resolve().parents[1]


def load_class(reference: str, methods: Sequence[str], model_path: Optional[str] = None) -> type:
    """The class `reference` names, if its module comes from the product's venv or `model_path` and it has
    every one of `methods`; ValueError saying what is wrong otherwise."""
    match = REFERENCE.match(reference)
    if not match:
        raise ValueError(f"{reference!r} is not 'package.module:Class'")
    module_name, class_name = match.groups()
    allowed = [product_site_packages()] + ([Path(model_path).resolve()] if model_path else [])
    _add_to_path(model_path)
    top = module_name.split(".")[0]
    try:  # the top-level package is located without running any of its code
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as error:
        raise ValueError(f"cannot import {top}: {error}") from error
    if spec is None:
        raise ValueError(f"cannot import {module_name}: no such module in the product's venv"
                         + (f" or in {model_path}" if model_path else " (model_path can name a directory)"))
    places = [spec.origin] if spec.origin not in (None, "built-in", "frozen") else []
    places += list(spec.submodule_search_locations or [])
    if not places or not all(_inside(place, allowed) for place in places):
        raise ValueError(f"{top} lives in {', '.join(map(str, places)) or 'the interpreter'}: only code in the "
                         "product's venv or in model_path (writable by root only) is loaded")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - the user's module may fail in any way on import
        raise ValueError(f"cannot import {module_name}: {type(error).__name__}: {error}") from error
    target: Any = module
    for part in class_name.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"{module_name} has no {class_name}")
    missing = [m for m in methods if not callable(getattr(target, m, None))]
    if not isinstance(target, type) or missing:
        raise ValueError(f"{reference} is not a class with {' and '.join(methods)}"
                         + (f" (it lacks {', '.join(missing)})" if missing else ""))
    return target


def _inside(place: str, roots: Sequence[Path]) -> bool:
    path = Path(place).resolve()
    return any(root == path or root in path.parents for root in roots)


def _add_to_path(path: Optional[str]) -> None:
    """`model_path` at the end of sys.path (the venv's modules keep precedence), for the import and for
    unpickling saved models of its classes later."""
    if path and path not in sys.path:
        sys.path.append(path)


def check_user_model(values: Dict[str, Any], methods: Sequence[str], default: str,
                     problems: list, without_args: Sequence[str] = ()) -> None:
    """After a conf's keys are parsed: a `model` naming a class is loaded and checked; if it cannot be, one
    problem line names the key and the job's default model (without `model_args`) takes its place. The
    built-in models `without_args` ignore `model_args`, with one problem line."""
    model = values["model"]
    if model in without_args and values["model_args"]:
        problems.append(f"model_args: the built-in {model} takes no model_args; ignoring them")
        values["model_args"] = {}
    if not is_reference(model):
        return
    try:
        load_class(model, methods, values.get("model_path"))
    except ValueError as error:
        problems.append(f"model: cannot use {model!r} ({error}); using default {default!r}")
        values["model"], values["model_args"] = default, {}


def module_root(reference: str) -> Optional[str]:
    """The top-level package of a class reference (what a state file may then contain), or None."""
    match = REFERENCE.match(str(reference))
    return match.group(1).split(".")[0] if match else None
