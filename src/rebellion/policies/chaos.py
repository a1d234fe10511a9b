"""Fault injection: add latency, raise errors or substitute results, on purpose.

For tests and game days. Each fault has its own probability; ``injection_rate``
scales them all and ``enabled`` switches everything off, both at run time and from
any thread. With a ``seed`` the sequence of injections is reproducible: every call
draws the same three random numbers whatever is enabled, so the same seed and rates
give the same faults on the same calls. Latency sleeps on the policy's clock.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> chaos = Chaos(latency=0.5, latency_rate=1.0, result="canned", result_rate=1.0, clock=clock)
>>> chaos.call(lambda: "real"), clock.monotonic()
('canned', 0.5)
>>> chaos.disable()
>>> chaos.call(lambda: "real")
'real'

Put it *inside* the policies it should exercise (``Pipeline(retry, breaker, chaos)``):
the pipeline warns when it is outside a retry, breaker or fallback.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import Event, EventStream, Listener
from .._policy import Policy
from .._registry import registry
from .._validate import check_clock, check_duration, check_fraction, check_name, check_seed
from ..errors import ConfigError

__all__ = ["Chaos", "FaultInjected"]

T = TypeVar("T")
_UNSET: Any = object()
LATENCY, ERROR, RESULT = "latency", "error", "result"


@final
@dataclass(frozen=True, slots=True)
class FaultInjected(Event):
    """A fault was injected: ``fault`` is ``"latency"``, ``"error"`` or ``"result"``."""

    policy_kind: ClassVar[str] = "chaos"

    fault: str
    detail: str


@final
class Chaos(Policy):
    """Inject latency, exceptions and substituted results with given probabilities.

    A call first may sleep ``latency`` seconds (with ``latency_rate``), then may raise
    ``error`` (with ``error_rate``) or else return ``result`` without calling the
    function (with ``result_rate``); otherwise the function runs normally.

    Args:
        name: shown in events, statistics and the dashboard.
        latency: seconds to add, or ``(low, high)`` for a uniform spread.
        latency_rate: probability of adding latency, 0 to 1.
        error: exception instance, class, or zero-argument factory to raise.
        error_rate: probability of raising ``error``.
        result: value returned instead of calling the function.
        result_rate: probability of returning ``result``.
        injection_rate: multiplies every rate (0 to 1), changeable at run time.
        enabled: start switched on (default) or off.
        seed: seed of the injection sequence (reproducible runs).
        clock: time source for the injected latency (tests pass a ``ManualClock``).
        listeners: callables receiving :class:`FaultInjected` events.
    """

    kind: ClassVar[str] = "chaos"

    def __init__(
        self,
        name: str = "chaos",
        *,
        latency: float | tuple[float, float] = 0.0,
        latency_rate: float = 0.0,
        error: BaseException | type[BaseException] | Callable[[], BaseException] | None = None,
        error_rate: float = 0.0,
        result: object = _UNSET,
        result_rate: float = 0.0,
        injection_rate: float = 1.0,
        enabled: bool = True,
        seed: int | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self._low, self._high = _latency(latency)
        self._error = _error_factory(error)
        self._result: Any = result
        self._lock = threading.Lock()
        self._rates = (0.0, 0.0, 0.0)
        self.set_rates(latency=latency_rate, error=error_rate, result=result_rate)
        self._scale = check_fraction("injection_rate", injection_rate)
        if not isinstance(enabled, bool):
            raise ConfigError("enabled", "True or False", enabled)
        self._enabled = enabled
        self._random = random.Random(check_seed(seed))
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._counts = {"calls": 0, "passed": 0, LATENCY: 0, ERROR: 0, RESULT: 0}
        registry.track(self)

    # -- run-time controls (thread-safe) ---------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether faults are injected at all."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ConfigError("enabled", "True or False", value)
        self._enabled = value

    def enable(self) -> None:
        """Start injecting faults."""
        self._enabled = True

    def disable(self) -> None:
        """Stop injecting faults: calls pass straight through."""
        self._enabled = False

    @property
    def injection_rate(self) -> float:
        """Multiplier applied to every fault's probability (0 to 1)."""
        return self._scale

    @injection_rate.setter
    def injection_rate(self, value: float) -> None:
        self._scale = check_fraction("injection_rate", value)

    def set_rates(
        self,
        *,
        latency: float | None = None,
        error: float | None = None,
        result: float | None = None,
    ) -> None:
        """Change some fault probabilities at once (``None`` keeps one as it is).

        Raises:
            ConfigError: a rate outside [0, 1], or a rate for a fault with nothing to inject.
        """
        with self._lock:
            old_latency, old_error, old_result = self._rates
            new = (
                old_latency if latency is None else check_fraction("latency_rate", latency),
                old_error if error is None else check_fraction("error_rate", error),
                old_result if result is None else check_fraction("result_rate", result),
            )
            if new[1] > 0 and self._error is None:
                raise ConfigError("error_rate", "0 when no error is configured", new[1])
            if new[2] > 0 and self._result is _UNSET:
                raise ConfigError("result_rate", "0 when no result is configured", new[2])
            self._rates = new

    # -- drivers ---------------------------------------------------------------------

    def _draw(self) -> tuple[float, str | None]:
        """Decide this call's faults: (latency seconds, ``"error"``/``"result"``/None)."""
        scale = self._scale
        latency_rate, error_rate, result_rate = self._rates
        with self._lock:
            counts = self._counts
            counts["calls"] += 1
            rng = self._random
            a, b, c, spread = rng.random(), rng.random(), rng.random(), rng.random()
            delay = 0.0
            if a < latency_rate * scale and self._high > 0:
                delay = self._low + (self._high - self._low) * spread
                counts[LATENCY] += 1
            fault: str | None = None
            if b < error_rate * scale:
                fault = ERROR
            elif c < result_rate * scale:
                fault = RESULT
            if fault is None:
                counts["passed"] += 1
            else:
                counts[fault] += 1
        if self.events.active:
            if delay > 0:
                self._emit(LATENCY, f"{delay:g}s")
            if fault is not None:
                self._emit(fault, "")
        return delay, fault

    def _emit(self, fault: str, detail: str) -> None:
        self.events.emit(
            FaultInjected(source=self.name, at=self._clock.wall(), fault=fault, detail=detail)
        )

    def _raise(self) -> BaseException:
        assert self._error is not None
        return self._error()

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if not self._enabled:
            return fn(*args, **kwargs)
        delay, fault = self._draw()
        if delay > 0:
            self._clock.sleep(delay)
        if fault is ERROR:
            raise self._raise()
        if fault is RESULT:
            return self._result  # type: ignore[no-any-return]
        return fn(*args, **kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._enabled:
            delay, fault = self._draw()
            if delay > 0:
                await self._clock.sleep_async(delay)
            if fault is ERROR:
                raise self._raise()
            if fault is RESULT:
                return self._result
        result = fn(*args, **kwargs)
        if type(result) is CoroutineType or isawaitable(result):
            result = await result
        return result

    def _wrap_async(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        slow = self._async

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if not self._enabled:
                return await fn(*args, **kwargs)
            return await slow(fn, args, kwargs)

        return guarded

    def stats(self) -> dict[str, Any]:
        """Return call and injection counts per fault, the switch and the rates."""
        with self._lock:
            counts = dict(self._counts)
        latency_rate, error_rate, result_rate = self._rates
        return {
            "kind": self.kind,
            "name": self.name,
            "enabled": self._enabled,
            "injection_rate": self._scale,
            "latency_rate": latency_rate,
            "error_rate": error_rate,
            "result_rate": result_rate,
            "calls": counts["calls"],
            "passed": counts["passed"],
            "injected_latency": counts[LATENCY],
            "injected_errors": counts[ERROR],
            "injected_results": counts[RESULT],
        }

    def __repr__(self) -> str:
        return f"Chaos(name={self.name!r}, enabled={self._enabled})"


def _latency(value: object) -> tuple[float, float]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ConfigError("latency", "seconds or a (low, high) pair", value)
        low = check_duration("latency", value[0])
        high = check_duration("latency", value[1], minimum=low)
        return low, high
    seconds = check_duration("latency", value)
    return seconds, seconds


def _error_factory(error: object) -> Callable[[], BaseException] | None:
    if error is None:
        return None
    if isinstance(error, BaseException):
        instance = error
        # A fresh copy per raise: one shared instance would chain tracebacks forever.
        return lambda: _copy_error(instance)
    if isinstance(error, type) and issubclass(error, BaseException):
        return error
    if callable(error):
        return error
    raise ConfigError("error", "an exception, an exception class or a factory", error)


def _copy_error(error: BaseException) -> BaseException:
    """Return a new exception like ``error`` (same type and args), or ``error`` itself."""
    try:
        return type(error)(*error.args)
    except Exception:
        return error.with_traceback(None)
