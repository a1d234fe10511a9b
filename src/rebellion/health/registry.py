"""Run health checks on an interval, with timeouts, history and an aggregate status.

A check that hangs past its timeout is recorded as ``"critical"`` and abandoned (it
is cancelled, and never awaited again, so a check that swallows cancellation cannot
hang the registry); a check that raises is ``"critical"`` with the error in its
details. The aggregate is the worst status, where a non-critical check counts at most
as ``"degraded"``. Given an operation mode, the registry marks components degraded
and recovered as their checks change.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> from rebellion.health import FunctionHealthCheck
>>> health = HealthRegistry(clock=ManualClock())
>>> _ = health.add(FunctionHealthCheck("cache", lambda: True))
>>> _ = health.add(FunctionHealthCheck("search", lambda: False, critical=False))
>>> report = asyncio.run(health.run_once())
>>> report.status, report.checks["search"].status
('degraded', 'critical')
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._registry import registry
from .._validate import check_clock, check_int, check_name, check_number
from ..errors import ConfigError
from ..policies.circuit_breaker import CircuitBreaker
from ._events import HealthCheckChanged, SystemHealthChanged
from ._results import CheckResult, HealthReport
from .checks import (
    CRITICAL,
    DEGRADED,
    OK,
    BreakerHealthCheck,
    HealthCheck,
    HealthStatus,
    worst,
)
from .mode import SystemOperationMode

__all__ = ["CheckResult", "HealthRegistry", "HealthReport"]

logger = logging.getLogger("rebellion.health")


_SEVERITY = {(CRITICAL, True): "critical", (CRITICAL, False): "high", (DEGRADED, True): "medium"}


@final
class HealthRegistry:
    """A set of named health checks, run together on an interval.

    Args:
        name: name for events, statistics and the registry.
        interval: seconds between runs once started (> 0).
        timeout: default seconds a check may take (> 0); a check's own ``timeout``
            overrides it.
        history_size: results kept per check, and reports kept (>= 1).
        mode: an operation mode to feed: a check turning degraded/critical marks its
            component degraded (severity ``medium``, or ``critical`` for a critical
            check's critical status, ``high`` for a non-critical one's), and turning
            ok marks it recovered.
        clock: time source (timeouts, interval, durations).
        listeners: event listeners (:class:`HealthCheckChanged`,
            :class:`SystemHealthChanged`).

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    kind: ClassVar[str] = "health_registry"

    def __init__(
        self,
        name: str = "health",
        *,
        interval: float = 30.0,
        timeout: float = 5.0,
        history_size: int = 50,
        mode: SystemOperationMode | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self.interval = check_number("interval", interval, minimum=0.0, exclusive_minimum=True)
        self.timeout = check_number("timeout", timeout, minimum=0.0, exclusive_minimum=True)
        self.history_size = check_int("history_size", history_size, minimum=1)
        if mode is not None and not isinstance(mode, SystemOperationMode):
            raise ConfigError("mode", "a SystemOperationMode or None", mode)
        self.mode = mode
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._lock = threading.Lock()
        self._checks: dict[str, HealthCheck] = {}
        self._last: dict[str, CheckResult] = {}
        self._history: dict[str, deque[CheckResult]] = {}
        self._reports: deque[HealthReport] = deque(maxlen=self.history_size)
        self._status: str | None = None
        self._abandoned: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None
        self._runs = self._timeouts = self._errors = 0
        registry.track(self)

    # -- membership ---------------------------------------------------------------------

    def add(self, check: HealthCheck) -> HealthCheck:
        """Add ``check``; returns it.

        Raises:
            ConfigError: ``check`` is not a HealthCheck, or its name is taken.
        """
        if not isinstance(check, HealthCheck):
            raise ConfigError("check", "a HealthCheck", check)
        with self._lock:
            if check.name in self._checks:
                raise ConfigError("check", "a check whose name is not registered yet", check.name)
            self._checks[check.name] = check
            self._history[check.name] = deque(maxlen=self.history_size)
        return check

    def add_breaker(
        self, breaker: CircuitBreaker, *, name: str | None = None, critical: bool = True
    ) -> BreakerHealthCheck:
        """Add a :class:`BreakerHealthCheck` watching ``breaker``; returns it."""
        check = BreakerHealthCheck(breaker, name=name, critical=critical)
        self.add(check)
        return check

    def remove(self, name: str) -> None:
        """Forget the check ``name`` and its history (no error if absent)."""
        with self._lock:
            self._checks.pop(name, None)
            self._last.pop(name, None)
            self._history.pop(name, None)

    @property
    def checks(self) -> tuple[HealthCheck, ...]:
        """The registered checks, in the order added."""
        with self._lock:
            return tuple(self._checks.values())

    # -- running ------------------------------------------------------------------------

    async def run_once(self) -> HealthReport:
        """Run every check concurrently, each under its timeout, and record the results.

        Returns:
            The aggregate report (also kept in :meth:`reports`).
        """
        clock = self._clock
        checks = self.checks
        loop = asyncio.get_running_loop()
        started = clock.monotonic()
        results: dict[str, CheckResult] = {}
        waiter: asyncio.Future[None] = loop.create_future()
        pending = [0]
        groups: dict[float, list[tuple[HealthCheck, asyncio.Task[Any]]]] = {}

        def finish(check: HealthCheck, result: CheckResult) -> None:
            results[check.name] = result
            pending[0] -= 1
            if pending[0] == 0 and not waiter.done():
                waiter.set_result(None)

        def completed(check: HealthCheck, task: asyncio.Task[Any]) -> None:
            if check.name in results:  # it timed out first: only consume the outcome
                if not task.cancelled():
                    task.exception()
                return
            finish(check, self._judge(check, task, clock.monotonic() - started))

        def expire(limit: float) -> None:
            for check, task in groups[limit]:
                if not task.done() and check.name not in results:
                    self._abandon(task)
                    finish(check, self._timed_out(check, limit))

        for check in checks:
            try:
                coroutine = check.check_health()
                task = loop.create_task(coroutine)
            except Exception as error:  # check_health is not even a coroutine function
                results[check.name] = self._failed(check, error, 0.0)
                continue
            pending[0] += 1
            task.add_done_callback(functools.partial(completed, check))
            groups.setdefault(check.timeout or self.timeout, []).append((check, task))
        timers = [clock.call_later(limit, functools.partial(expire, limit)) for limit in groups]
        try:
            if pending[0]:
                await waiter
        except asyncio.CancelledError:
            for group in groups.values():
                for _, task in group:
                    task.cancel()
            raise
        finally:
            for timer in timers:
                timer.cancel()
        ordered = {c.name: results[c.name] for c in checks}
        return await self._record(ordered, clock.monotonic() - started)

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        task.cancel()
        # Keep a reference until it really ends; never await it (it may ignore cancel).
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    def _judge(self, check: HealthCheck, task: asyncio.Task[Any], duration: float) -> CheckResult:
        if task.cancelled():
            error: BaseException = asyncio.CancelledError("the check was cancelled")
            return self._failed(check, error, duration)
        error_or_none = task.exception()
        if error_or_none is not None:
            return self._failed(check, error_or_none, duration)
        status = task.result()
        if not isinstance(status, HealthStatus):
            problem = TypeError(f"check_health() returned {status!r}, not a HealthStatus")
            return self._failed(check, problem, duration)
        return CheckResult(
            check.name,
            status.status,
            status.message,
            status.details,
            check.critical,
            duration,
            self._clock.wall(),
        )

    def _failed(self, check: HealthCheck, error: BaseException, duration: float) -> CheckResult:
        self._errors += 1
        details = {"error": str(error), "error_type": type(error).__name__}
        message = f"{check.name} check raised {type(error).__name__}: {error}"
        return CheckResult(
            check.name, CRITICAL, message, details, check.critical, duration, self._clock.wall()
        )

    def _timed_out(self, check: HealthCheck, limit: float) -> CheckResult:
        self._timeouts += 1
        message = f"{check.name} check did not answer within {limit:g}s"
        details = {"error": "timeout", "error_type": "TimeoutError", "timeout": limit}
        wall = self._clock.wall()
        return CheckResult(
            check.name, CRITICAL, message, details, check.critical, limit, wall, True
        )

    async def _record(self, results: dict[str, CheckResult], duration: float) -> HealthReport:
        status = worst(r.effective_status for r in results.values())
        report = HealthReport(status, results, self._clock.wall(), duration)
        changed: list[tuple[CheckResult, str | None]] = []
        with self._lock:
            self._runs += 1
            for name, result in results.items():
                history = self._history.get(name)
                if history is None:  # removed while running
                    continue
                history.append(result)
                before = self._last.get(name)
                self._last[name] = result
                old = None if before is None else before.status
                if old != result.status:
                    changed.append((result, old))
            old_status, self._status = self._status, status
            self._reports.append(report)
        if self.events:
            for result, old in changed:
                self.events.emit(
                    HealthCheckChanged(
                        self.name, report.at, result.name, old, result.status, result.message
                    )
                )
            if old_status != status:
                self.events.emit(SystemHealthChanged(self.name, report.at, old_status, status))
        if self.mode is not None:
            for result, _ in changed:
                await self._feed(self.mode, result)
        return report

    async def _feed(self, mode: SystemOperationMode, result: CheckResult) -> None:
        if result.status == OK:
            await mode.mark_component_recovered(result.name, f"{result.name} check is ok")
            return
        severity = _SEVERITY.get((result.status, result.critical), "medium")
        await mode.mark_component_degraded(
            result.name, result.message or result.status, severity, details=result.details
        )

    async def start(self) -> None:
        """Run all checks now and then every ``interval`` seconds, until :meth:`stop`."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # pragma: no cover - run_once records check failures itself
                logger.exception("health registry %r: a run failed", self.name)
            await self._clock.sleep_async(self.interval)

    async def stop(self) -> None:
        """Stop the periodic runs (a run in progress is cancelled)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    @property
    def running(self) -> bool:
        """Whether periodic runs are active."""
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> HealthRegistry:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- observation --------------------------------------------------------------------

    @property
    def status(self) -> str | None:
        """The aggregate status of the last run (``None`` before the first)."""
        return self._status

    def last_result(self, name: str) -> CheckResult | None:
        """The latest result of check ``name``, or ``None``."""
        return self._last.get(name)

    def history(self, name: str) -> list[CheckResult]:
        """The kept results of check ``name``, oldest first.

        Raises:
            KeyError: no check is registered as ``name``.
        """
        with self._lock:
            return list(self._history[name])

    def reports(self) -> list[HealthReport]:
        """The kept reports, oldest first."""
        with self._lock:
            return list(self._reports)

    def stats(self) -> dict[str, Any]:
        """Return a snapshot: aggregate status, counts by status, runs, timeouts, errors."""
        with self._lock:
            last = list(self._last.values())
            counts = {OK: 0, DEGRADED: 0, CRITICAL: 0}
            for result in last:
                counts[result.status] += 1
            return {
                "kind": self.kind,
                "name": self.name,
                "status": self._status,
                "checks": len(self._checks),
                "by_status": counts,
                "runs": self._runs,
                "timeouts": self._timeouts,
                "errors": self._errors,
                "running": self.running,
                "last_duration": self._reports[-1].duration if self._reports else None,
            }

    def __repr__(self) -> str:
        size = len(self._checks)
        return f"HealthRegistry(name={self.name!r}, checks={size}, status={self._status!r})"
