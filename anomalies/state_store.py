# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeping a job's models across restarts: one file per job under the agent's lib dir.

A state file is `MAGIC`, a JSON header (format version, package version, job, config fingerprint, time),
a pickled payload and an HMAC-SHA256 of all of it, keyed by a secret that only the agent's user can read
(`state.key` in the same directory, mode 0600). A file is unpickled only after its HMAC checks out, so a
file this installation did not write is never unpickled, and the unpickler still accepts only the classes
of this project and its numeric libraries. Files are written to a temporary file, synced and renamed into
place; the directory is 0700 and the files 0600. A corrupt, foreign or outdated file is renamed to
`<name>.rejected` (one log line) and the job starts fresh.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import hmac
import io
import json
import os
import pickle
import secrets
import stat
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, FrozenSet, Optional, Tuple

from . import stale_state
from .cycle import Logger
from .user_models import module_root

# the layout of the pickled state; raise it when a pickled class changes (2: ModelBank batches per kind;
# 3: zscore's feature groups)
FORMAT_VERSION = 3
MAGIC = b"netdata-anomalies state\n"
KEY_FILE = "state.key"
STATE_DIR_NAME = "netdata-anomalies"
DEFAULT_LIB_DIR = "/var/lib/netdata"
_DIGEST = hashlib.sha256
_DIGEST_SIZE = _DIGEST().digest_size
_HEADER_LENGTH = struct.Struct(">I")

# What a state file may contain: this project's classes and those of the libraries its models are made of.
_ALLOWED_MODULE_ROOTS = frozenset({"anomalies", "anomalies_online", "numpy", "rrcf", "pysad", "pyod",
                                   "sklearn", "scipy", "collections", "copyreg", "_codecs", "re"})
_ALLOWED_BUILTINS = frozenset({"set", "frozenset", "slice", "range", "complex", "bytearray", "object",
                               "dict", "list", "tuple", "int", "float", "bool", "str", "bytes"})

@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """The installed version of netdata-anomalies (state from another version is not loaded)."""
    from importlib import metadata  # imported here: it pulls in email, zipfile, csv...

    try:
        return metadata.version("netdata-anomalies")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_state_dir() -> str:
    """Where state files live: `$NETDATA_LIB_DIR/netdata-anomalies` (the agent sets NETDATA_LIB_DIR for
    its plugins)."""
    return os.path.join(os.environ.get("NETDATA_LIB_DIR") or DEFAULT_LIB_DIR, STATE_DIR_NAME)


def job_store(save_state: bool, job_name: Optional[str], log: Logger,
              user_model: Optional[str] = None) -> Optional["StateStore"]:
    """The store of a python.d job (None when `save_state` is off, or outside python.d: no job name); it
    admits the package of `user_model` (the conf's `model`, when that names a class). A debug run says whose
    file it uses: the one of the agent's own job of the same name."""
    if not (save_state and job_name):
        return None
    store = StateStore(default_state_dir(), job_name, log, user_model)
    stale_state.register(job_name)
    if stale_state.is_debug_run():
        log.info(f"debug run: this job reads and writes {store.path}, the saved models of the agent's own job "
                 f"'{job_name}' (save_state: no leaves them alone)")
    return store


class StateError(Exception):
    """A state file that must not be used; the message says why."""


@dataclass
class LoadedState:
    """A state file's payload and when it was written (unix seconds)."""

    payload: Any
    saved_at: float


class _ProjectUnpickler(pickle.Unpickler):
    """Unpickles only classes from the allowed modules, and from the package of a model class the job's conf
    names (defence in depth behind the HMAC)."""

    def __init__(self, stream: BinaryIO, extra_roots: FrozenSet[str] = frozenset()):
        super().__init__(stream)
        self.extra_roots = extra_roots

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if (root in _ALLOWED_MODULE_ROOTS or root in self.extra_roots
                or (module == "builtins" and name in _ALLOWED_BUILTINS)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state file")


class StateStore:
    """Saves and loads the state of one job (`name`) in `directory`; every problem is one log line, after
    which the store is either disabled (an unsafe directory) or the job simply starts fresh."""

    def __init__(self, directory: str, name: str, log: Logger, user_model: Optional[str] = None):
        self.directory = directory
        self.name = name
        root = module_root(user_model) if user_model else None
        self.extra_roots: FrozenSet[str] = frozenset({root} if root else ())  # the conf's own model class
        self.path = os.path.join(directory, f"{name}.state")
        self.log = log
        self._key: Optional[bytes] = None
        self.disabled = False

    # -- the directory and the key ---------------------------------------------------------------------

    def _prepare(self) -> Optional[bytes]:
        """The HMAC key, creating the directory (0700) and the key (0600) when missing; None (said once,
        and the store disabled) when either is not safe to use."""
        if self._key is not None or self.disabled:
            return self._key
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            _check_private(self.directory, is_dir=True)
            os.chmod(self.directory, 0o700)
            key_path = os.path.join(self.directory, KEY_FILE)
            try:
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as key_file:
                    key_file.write(secrets.token_bytes(32))
            except FileExistsError:
                pass
            _check_private(key_path, is_dir=False)
            with open(key_path, "rb") as key_file:
                key = key_file.read()
            if len(key) != 32:
                raise StateError(f"{key_path} is not a key of 32 bytes")
            self._key = key
            for leftover in glob.glob(os.path.join(self.directory, f".{glob.escape(self.name)}.*.tmp")):
                os.unlink(leftover)  # a write this job did not finish (the plugin was killed)
        except (OSError, StateError) as error:
            self.disabled = True
            self.log.warning(f"models will not be saved across restarts: {error}")
        return self._key

    # -- writing ----------------------------------------------------------------------------------------

    def write_temp(self, fingerprint: str, payload: Any) -> Optional[str]:
        """Pickle `payload` now (so the caller decides when its objects are consistent) straight into a
        temporary file beside the state file, signed as it is written: no copy of the pickle in memory.
        Returns the file for `commit`; None (logged) when the store is disabled or the payload cannot be
        pickled or written."""
        key = self._prepare()
        if key is None:
            return None
        header = json.dumps({
            "format": FORMAT_VERSION, "version": package_version(), "job": self.name,
            "fingerprint": fingerprint, "saved_at": time.time(),
            "python": "%d.%d" % sys.version_info[:2],
        }).encode()
        temp_path = None
        try:
            fd, temp_path = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "wb") as temp_file:
                signed = _SigningWriter(temp_file, hmac.new(key, digestmod=_DIGEST))
                signed.write(MAGIC + _HEADER_LENGTH.pack(len(header)) + header)
                pickle.Pickler(signed, protocol=5).dump(payload)
                temp_file.write(signed.mac.digest())
            return temp_path
        except Exception as error:  # noqa: BLE001 - e.g. a model that cannot be pickled: keep running
            self.log.warning(f"cannot save models to {self.path}: {error!r}")
            if temp_path is not None:
                _unlink_quietly(temp_path)
            return None

    def commit(self, temp_path: str) -> bool:
        """Make a file from `write_temp` the state file: synced, then renamed over it (atomic), then the
        directory synced; False (logged) on failure. May run in another thread."""
        try:
            fd = os.open(temp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp_path, self.path)
            directory_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
            return True
        except OSError as error:
            _unlink_quietly(temp_path)
            self.log.warning(f"cannot save models to {self.path}: {error}")
            return False

    def save(self, fingerprint: str, payload: Any) -> bool:
        """`write_temp` and `commit` in one go."""
        temp_path = self.write_temp(fingerprint, payload)
        return temp_path is not None and self.commit(temp_path)

    # -- reading ----------------------------------------------------------------------------------------

    def load(self, fingerprint: str) -> Optional[LoadedState]:
        """The saved state if there is one this installation wrote, for this version and this config;
        otherwise None: a file that is corrupt, foreign or outdated is set aside, one that was saved under
        another config is left to be overwritten (each said in one line)."""
        if not os.path.exists(self.path):
            return None
        key = self._prepare()
        if key is None:
            return None
        try:
            _check_private(self.path, is_dir=False)
            with open(self.path, "rb") as state_file:
                blob = state_file.read()
            header, payload = _verify(blob, key)
            if header.get("format") != FORMAT_VERSION or header.get("version") != package_version():
                raise StateError(f"written by netdata-anomalies {header.get('version')} (format "
                                 f"{header.get('format')}), this is {package_version()} "
                                 f"(format {FORMAT_VERSION})")
            if header.get("fingerprint") != fingerprint:
                self.log.info(f"saved models in {self.path} were made under another configuration; "
                              "starting fresh")
                return None
            state = LoadedState(_ProjectUnpickler(io.BytesIO(payload), self.extra_roots).load(),
                                float(header["saved_at"]))
        except (OSError, StateError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, KeyError,
                TypeError, ValueError, RecursionError) as error:
            self._set_aside(error)
            return None
        return state

    def _set_aside(self, error: Exception) -> None:
        rejected = os.path.join(self.directory, f"{self.name}.rejected")
        try:
            os.replace(self.path, rejected)
            where = f"moved to {rejected}"
        except OSError as move_error:
            where = f"could not move it aside: {move_error}"
        self.log.warning(f"not using saved models in {self.path} ({error}); {where}; starting fresh")


class _SigningWriter:
    """A binary file that also feeds every byte written to it to an HMAC."""

    def __init__(self, file: BinaryIO, mac: "hmac.HMAC"):
        self.file = file
        self.mac = mac

    def write(self, data) -> int:
        self.mac.update(data)
        return self.file.write(data)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _verify(blob: bytes, key: bytes) -> Tuple[dict, memoryview]:
    """(header, pickled payload) of a state file whose magic, length and HMAC are right."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _HEADER_LENGTH.size + _DIGEST_SIZE:
        raise StateError("not a netdata-anomalies state file")
    body, digest = memoryview(blob)[:-_DIGEST_SIZE], blob[-_DIGEST_SIZE:]  # views: no copies of the pickle
    if not hmac.compare_digest(hmac.new(key, body, _DIGEST).digest(), digest):
        raise StateError("checksum mismatch: corrupt, or not written by this installation")
    start = len(MAGIC) + _HEADER_LENGTH.size
    (length,) = _HEADER_LENGTH.unpack_from(body, len(MAGIC))
    return json.loads(bytes(body[start:start + length])), body[start + length:]


def _check_private(path: str, is_dir: bool) -> None:
    """Refuse a path that is a symlink, of the wrong type, owned by another user, or open to others
    (a directory may not be writable by others; a file may not be readable or writable by them)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"{path} is a symbolic link")
    if is_dir != stat.S_ISDIR(info.st_mode) or (not is_dir and not stat.S_ISREG(info.st_mode)):
        raise StateError(f"{path} is not a {'directory' if is_dir else 'regular file'}")
    if info.st_uid != os.geteuid():
        raise StateError(f"{path} belongs to uid {info.st_uid}, not to this user ({os.geteuid()})")
    if info.st_mode & (0o022 if is_dir else 0o077):
        raise StateError(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o})")
