"""The loaded configuration file: load, reload, watch, and re-apply to live instances.

``load_config(path)`` makes a file the process's configuration; ``get_*`` helpers and
``setting()`` read it from then on. ``reload()`` re-reads it: a valid edit is applied to
every live named instance (a breaker keeps its state and counts), an invalid one is
refused with a logged error and a :class:`ConfigRejected` event, and the old settings
stay. ``watch=True`` polls the file's size, mtime and hash every ``interval`` seconds of
the injected clock on a daemon thread.

>>> import os, tempfile
>>> from rebellion.config import load_config, unload_config
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "rebellion.toml")
>>> with open(path, "w") as f:
...     _ = f.write("[retry]\\nmax_attempts = 4\\n")
>>> loaded = load_config(path)
>>> loaded.resolve("retry", "checkout")["max_attempts"]
4
>>> unload_config()
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, final

from .._clock import Clock, SystemClock
from .._events import Event, EventStream, Listener
from .._registry import registry
from .._validate import check_clock, check_number
from ..errors import ConfigError
from ._document import ConfigDocument
from ._env import env_override, setting
from ._kinds import KINDS

__all__ = ["ConfigRejected", "ConfigReloaded", "LoadedConfig", "explicit_keys", "with_env"]

logger = logging.getLogger("rebellion.config")

# Keys a program passed in code to a get_* helper: a reload never overrides them.
explicit_keys: weakref.WeakKeyDictionary[object, frozenset[str]] = weakref.WeakKeyDictionary()


@final
@dataclass(frozen=True, slots=True)
class ConfigReloaded(Event):
    """A changed file was applied; ``changed`` lists ``kind.name`` of updated instances."""

    path: str
    changed: tuple[str, ...]
    not_applied: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class ConfigRejected(Event):
    """An edit was refused (invalid or unreadable); the previous settings stay."""

    path: str
    reason: str


def with_env(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """Overlay the ``REBELLION_*`` variables that are set for ``kind`` on ``values``."""
    for param, key in KINDS[kind].env.items():
        found, value = env_override(key)
        if found:
            values[param] = value
    return values


def _fingerprint(path: str) -> tuple[int, int, str, str]:
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        data = handle.read()
    return stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest(), data.decode()


@final
class LoadedConfig:
    """A configuration file made current: resolution, reload and an optional watcher.

    Args:
        path: the TOML file.
        clock: time source of the watcher's interval (tests: ManualClock).
        interval: seconds between two checks of the file while watching (> 0).
        listeners: receive :class:`ConfigReloaded` and :class:`ConfigRejected`.

    Raises:
        ConfigError: the file is missing, unreadable or invalid (nothing is loaded).
    """

    kind = "config"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        interval: float = 1.0,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not isinstance(path, str | os.PathLike) or not str(path):
            raise ConfigError("path", "a path to a TOML file", path)
        self.path = os.fspath(path)
        self._clock = check_clock(clock)
        self.interval = check_number("interval", interval, minimum=0.0, exclusive_minimum=True)
        self.events = EventStream("config", listeners)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The real clock is waited on directly; another clock is polled in short slices.
        self._real_time = isinstance(self._clock, SystemClock)
        self.reloads = 0
        self.rejections = 0
        mark, document = self._read()
        self._mark = mark
        self.document = document

    def _read(self) -> tuple[tuple[int, int, str], ConfigDocument]:
        try:
            mtime, size, digest, text = _fingerprint(self.path)
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(
                "path", "a readable UTF-8 TOML file", f"{self.path}: {error}"
            ) from None
        return (mtime, size, digest), ConfigDocument.parse(text, self.path)

    # -- resolution ----------------------------------------------------------------------

    def resolve(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """Return the values for instance ``name`` of ``kind``: file, then environment on top.

        Raises:
            ConfigError: ``kind`` is unknown or an environment variable is invalid.
        """
        spec = KINDS.get(kind)
        if spec is None:
            raise ConfigError("kind", f"one of {', '.join(sorted(KINDS))}", kind)
        return with_env(kind, self.document.resolve(kind, name))

    def default_for(self, key: str) -> tuple[bool, object]:
        """Return ``(found, value)`` of setting ``key`` in the file's ``configs.default``."""
        kind = key.split(".", 1)[0] if "." in key else "monitor"
        spec = KINDS.get(kind)
        if spec is None:
            return False, None
        params = [p for p, k in spec.env.items() if k == key]
        if not params:
            return False, None
        values = self.document.resolve(kind)
        return (True, values[params[0]]) if params[0] in values else (False, None)

    # -- reload --------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the file; apply it if it changed and is valid.

        Returns:
            True if a new version was applied; False if unchanged or refused (an
            invalid edit is logged and reported as :class:`ConfigRejected`).
        """
        with self._lock:
            try:
                mtime, size, digest, text = _fingerprint(self.path)
            except (OSError, UnicodeDecodeError) as error:
                return self._reject(f"cannot read {self.path}: {error}")
            if digest == self._mark[2]:
                self._mark = (mtime, size, digest)
                return False
            try:
                document = ConfigDocument.parse(text, self.path)
            except ConfigError as error:
                self._mark = (mtime, size, digest)  # report a broken version once
                return self._reject(str(error))
            self._mark = (mtime, size, digest)
            old, self.document = self.document, document
            changed, pending = self.apply_to_live(old)
            self.reloads += 1
        logger.info("configuration %s reloaded: %s changed", self.path, len(changed))
        if pending:
            logger.warning("settings that apply to new instances only: %s", ", ".join(pending))
        if self.events:
            at = self._clock.wall()
            self.events.emit(ConfigReloaded("config", at, self.path, changed, pending))
        return True

    def _reject(self, reason: str) -> bool:
        self.rejections += 1
        logger.error("configuration %s refused, previous settings kept: %s", self.path, reason)
        if self.events:
            self.events.emit(ConfigRejected("config", self._clock.wall(), self.path, reason))
        return False

    def apply_to_live(
        self, old: ConfigDocument | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Apply this configuration to live named instances whose settings differ.

        Keys given in code to a ``get_*`` helper are left alone.

        Args:
            old: the configuration these instances were built from (None: none).

        Returns:
            ``(changed, not_applied)``: ``kind.name`` of every updated instance, and
            ``kind.name.key`` of each setting that applies to new instances only.
        """
        if old is None:
            old = ConfigDocument({})
        changed: list[str] = []
        pending: list[str] = []
        for kind, name, instance, known in registry.named():
            spec = KINDS.get(kind)
            if spec is None:
                continue
            fixed = explicit_keys.get(instance, frozenset())
            before = {
                k: v for k, v in with_env(kind, old.resolve(kind, name)).items() if k not in fixed
            }
            after = {k: v for k, v in self.resolve(kind, name).items() if k not in fixed}
            defaults = spec.constructor_defaults()
            delta = {k: v for k, v in after.items() if before.get(k, known.get(k)) != v}
            for key in set(before) - set(after):
                if key in spec.env:
                    delta[key] = setting(spec.env[key])
                elif key in defaults:
                    delta[key] = defaults[key]
            if not delta:
                continue
            try:
                missed = spec.apply(instance, delta)
            except ConfigError as error:
                logger.error("cannot apply %s to %s %r: %s", sorted(delta), kind, name, error)
                missed = tuple(sorted(delta))
            changed.append(f"{kind}.{name}")
            pending.extend(f"{kind}.{name}.{key}" for key in missed)
            registry.update_settings(kind, name, {**known, **delta})
        return tuple(changed), tuple(pending)

    # -- watching ------------------------------------------------------------------------

    def check(self) -> bool:
        """Reload if the file's size, mtime or content changed (what the watcher runs)."""
        try:
            mtime, size, digest, _ = _fingerprint(self.path)
        except (OSError, UnicodeDecodeError):
            return self.reload()
        if (mtime, size, digest) == self._mark:
            return False
        return self.reload()

    def watch(self) -> None:
        """Start checking the file every ``interval`` seconds on a daemon thread."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"rebellion-config-watch:{self.path}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        due = self._clock.monotonic() + self.interval
        while not self._stop.is_set():
            remaining = due - self._clock.monotonic()
            if remaining > 0:
                # The clock decides when the interval is over; the short wait only bounds
                # how late a stop or an advanced test clock is noticed.
                self._stop.wait(remaining if self._real_time else min(remaining, 0.05))
                continue
            due = self._clock.monotonic() + self.interval
            try:
                self.check()
            except Exception:  # pragma: no cover - a bug must not kill the watcher
                logger.exception("configuration watcher failed; it keeps watching")

    def stop(self) -> None:
        """Stop watching (idempotent); a check in progress finishes first."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def watching(self) -> bool:
        """Whether the watcher thread is running."""
        return self._thread is not None

    def __repr__(self) -> str:
        return f"LoadedConfig(path={self.path!r}, watching={self.watching})"
