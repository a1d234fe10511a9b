"""Bad input, generated: every public constructor parameter gets huge, negative, NaN,
infinite and wrong-type values. Each one is either refused at once with a ``ConfigError``
naming the parameter, or accepted and then honoured by a working call: never another
exception later, and never a wait the real clock could not perform.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebellion import Bulkhead, CircuitBreaker, RateLimiter, Retry, Timeout
from rebellion.cache import DistributedCache
from rebellion.durable import PersistentRequestQueue, RetryableRequest
from rebellion.errors import ConfigError, RejectedError, RetryExhaustedError
from rebellion.flow import BackpressureHandler, BatchProcessor
from rebellion.flow.batch import BatchConfig
from rebellion.metrics import MetricsCollector, MetricsConfig, MetricTransformer
from rebellion.metrics.anomaly import AnomalyDetector
from rebellion.monitor.hub import Hub
from rebellion.monitor.store import HistoryStore
from rebellion.policies.adaptive.limiter import AdaptiveLimiter
from rebellion.policies.budget import RetryBudget
from rebellion.policies.chaos import Chaos
from rebellion.policies.circuit_breaker import PredictiveCircuitBreaker
from rebellion.policies.hedge import Hedge
from rebellion.testing import ManualClock

EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "20"))
"""Values tried per parameter; raise it for a deeper run (200 finds nothing more today)."""

NASTY = st.one_of(
    st.sampled_from(
        [
            *(0, 1, 2, -1, 0.5, 3, 100, 10**100, -(10**100), 2**63, 2**53 + 1, 1e308, -1e308),
            *(9.3e9, 1e10, 1e9, 1e-320, math.inf, -math.inf, math.nan, True, False, None),
            *("", "1", "none", [], [1.0], {}, (), (0.5,), b"x", object(), 10**5000, "x" * 999),
        ]
    ),
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
)


def names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


class HonestClock:
    """A manual clock that fails the test when asked for a wait no real clock can make."""

    def __init__(self, *, auto_advance: bool = True) -> None:
        self.inner = ManualClock(auto_advance=auto_advance)

    @staticmethod
    def _check(seconds: float) -> None:
        assert isinstance(seconds, int | float), seconds
        assert math.isfinite(seconds), f"asked to wait {seconds!r}"
        assert seconds <= threading.TIMEOUT_MAX, f"asked to wait {seconds!r} s"

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def wall(self) -> float:
        return self.inner.wall()

    def sleep(self, seconds: float) -> None:
        self._check(seconds)
        self.inner.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        self._check(seconds)
        await self.inner.sleep_async(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Any:
        self._check(delay)
        return self.inner.call_later(delay, callback)

    def advance(self, seconds: float) -> None:
        self.inner.advance(seconds)

    async def advance_async(self, seconds: float, *, settle: int = 5) -> None:
        await self.inner.advance_async(seconds, settle=settle)


def run(coro: Coroutine[Any, Any, object]) -> object:
    return asyncio.run(asyncio.wait_for(coro, 30))


@dataclass(frozen=True)
class Case:
    """How to build one class from fuzzed keyword arguments, and a call that uses them."""

    build: Callable[..., Any]
    exercise: Callable[[Any, HonestClock], None]
    params: tuple[str, ...]
    base: dict[str, Any] = field(default_factory=dict)
    clocked: bool = True


def _timeout(t: Timeout, clock: HonestClock) -> None:
    assert Timeout(t.seconds).call(lambda: 7) == 7  # the real clock and a real thread

    async def fast() -> int:
        return 8

    assert run(t.execute(fast)) == 8


def _bulkhead(b: Bulkhead, clock: HonestClock) -> None:
    assert b.call(lambda: 1) == 1
    outcome: list[object] = []

    def queued() -> None:
        try:
            outcome.append(b.call(lambda: 2))
        except RejectedError as error:
            outcome.append(error)

    with b:  # hold a slot so that a second caller may have to wait (real clock)
        waiter = threading.Thread(target=queued)
        waiter.start()
        for _ in range(1000):
            if outcome or b.stats()["queued"]:
                break
            waiter.join(0.01)
    waiter.join(30)
    assert not waiter.is_alive()
    assert outcome[0] == 2 or isinstance(outcome[0], RejectedError), outcome


def _retry(r: Retry, clock: HonestClock) -> None:
    failures = iter([ValueError("a"), ValueError("b")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    try:
        assert r.call(flaky) == "ok"
    except RetryExhaustedError:
        pass
    r.stats()


def _breaker(b: CircuitBreaker, clock: HonestClock) -> None:
    def boom() -> None:
        raise ValueError("boom")

    for _ in range(30):
        try:
            b.call(boom)
        except ValueError:
            pass
        except RejectedError as rejected:
            assert rejected.retry_after is None or math.isfinite(rejected.retry_after)
            clock.advance(rejected.retry_after or 1.0)
    for _ in range(5):
        try:
            assert b.call(lambda: 1) == 1
        except RejectedError as rejected:
            clock.advance(rejected.retry_after or 1.0)
    b.stats()


def _predictive(b: PredictiveCircuitBreaker, clock: HonestClock) -> None:
    def answer(fails: bool) -> int:
        if fails:
            raise ValueError("boom")
        return 1

    for _ in range(3):
        _breaker(b.breaker, clock)  # the plain breaker's paths
        for fails in (True, False) * 5:
            try:
                b.call(answer, fails)
            except (ValueError, RejectedError):
                pass
        clock.advance(1.0)
    b.stats()


def _limiter(limiter: RateLimiter, clock: HonestClock) -> None:
    for _ in range(5):
        limiter.try_acquire()
    for _ in range(3):
        try:
            limiter.acquire()
        except RejectedError as rejected:
            assert rejected.retry_after is None or math.isfinite(rejected.retry_after)
    limiter.stats()


def _hedge(hedge: Hedge, clock: HonestClock) -> None:
    try:
        assert hedge.call(lambda: 3) == 3

        async def answer() -> int:
            return 4

        assert run(hedge.execute(answer)) == 4
        assert math.isfinite(hedge.current_delay or 0.0)
    finally:
        hedge.close()


def _chaos(chaos: Chaos, clock: HonestClock) -> None:
    for _ in range(10):
        try:
            chaos.call(lambda: 5)
        except RuntimeError as error:
            assert str(error) == "injected"
    chaos.stats()


def _backpressure(handler: BackpressureHandler[int], clock: HonestClock) -> None:
    for i in range(50):
        handler.add_item(i)
        clock.advance(0.01)
    assert len(handler.get_batch(max_batch_size=10)) <= 10
    handler.stats()


def _batch(config: BatchConfig, clock: HonestClock) -> None:
    seen: list[int] = []

    async def scenario() -> None:
        processor = BatchProcessor("fuzz", seen.extend, config, clock=clock)
        await processor.start()
        for item in range(5):
            try:
                processor.submit_nowait(item)
            except RejectedError:  # a full queue refuses at once
                pass
        await clock.advance_async(min(config.max_wait, 5.0) + 0.01, settle=20)
        await processor.stop()
        processor.stats()

    run(scenario())


def _queue_build(**kwargs: Any) -> PersistentRequestQueue:
    folder = tempfile.mkdtemp(prefix="rebellion-fuzz-")
    return PersistentRequestQueue(f"{folder}/q.db", **kwargs)


def _queue(queue: PersistentRequestQueue, clock: HonestClock) -> None:
    done: list[int] = []
    queue.register_handler("work", done.append)

    async def scenario() -> None:
        try:
            await queue.enqueue(RetryableRequest("work", args=[1]))
        except RejectedError:
            pass
        await queue.process_available()
        queue.stats()

    try:
        run(scenario())
    finally:
        queue.close()
    assert done in ([], [1])


def _cache(cache: DistributedCache, clock: HonestClock) -> None:
    async def scenario() -> None:
        await cache.put("k", {"v": 1})
        assert await cache.get("k") in ({"v": 1}, None)  # a zero-size memory tier keeps none
        clock.advance(10.0)
        await cache.get("k")
        assert await cache.get_or_load("j", lambda: 2) == 2
        cache.stats()
        await cache.close()

    run(scenario())


def _collector(config: MetricsConfig, clock: HonestClock) -> None:
    collector = MetricsCollector("fuzz", config, clock=clock)  # type: ignore[arg-type]
    for i in range(20):
        collector.inc("calls")
        collector.observe("latency", i / 10)
        collector.record_time("work", i / 100)
        clock.advance(1.0)

    async def alerts() -> None:
        for i in range(3):
            await collector.create_alert("hot", "warning", labels={"i": str(i)})
            await collector.resolve_alert("hot", labels={"i": str(i)})

    run(alerts())
    collector.snapshot()
    collector.prometheus_text()


def _anomaly(detector: AnomalyDetector, clock: HonestClock) -> None:
    for i in range(150):
        value = 1000.0 if i in (120, 121) else math.sin(i / 5)
        score = detector.update(value, 1_700_000_000 + 60 * i)
        assert 0.0 <= score <= 1.0
    detector.stats()


def _transformer(transformer: MetricTransformer, clock: HonestClock) -> None:
    for i in range(12):
        sample = {"cpu": float(i % 5), "mem": 40.0 + i}
        transformer.transform_system_metrics(dict(list(sample.items())[: transformer.max_series]))
        clock.advance(1.0)
    transformer.stats()


def _adaptive(limiter: AdaptiveLimiter, clock: HonestClock) -> None:
    for _ in range(20):
        try:
            assert limiter.call(lambda: 1) == 1
        except RejectedError:
            pass
        clock.advance(0.05)

    async def answer() -> int:
        return 2

    try:
        assert run(limiter.execute(answer)) == 2
    except RejectedError:
        pass
    assert 1 <= limiter.limit <= limiter.max_limit
    limiter.stats()


def _budget(budget: RetryBudget, clock: HonestClock) -> None:
    for _ in range(50):
        budget.record_request()
        budget.try_withdraw()
        clock.advance(0.1)
    assert budget.available >= 0
    budget.stats()


def _hub(hub: Hub, clock: HonestClock) -> None:
    assert hub.publish("sample", {"values": {"cpu": 1.0}}) == 0
    hub.stats()


def _store_build(*, clock: object = None, **kwargs: Any) -> HistoryStore:
    return HistoryStore(":memory:", **kwargs)


def _store(store: HistoryStore, clock: HonestClock) -> None:
    try:
        for t in range(30):
            store.append(1000.0 + t, {"cpu": float(t)})
        store.flush()
        assert len(store.history("cpu", 1000.0, 1030.0)) >= 1
    finally:
        store.close()


def _make_chaos(**kwargs: Any) -> Chaos:
    kwargs.setdefault("error", RuntimeError("injected"))
    kwargs.setdefault("result", 6)
    return Chaos(**kwargs)


def _anomaly_build(*, clock: object = None, **kwargs: Any) -> AnomalyDetector:
    return AnomalyDetector(**kwargs)


def _batch_build(*, clock: object = None, **kwargs: Any) -> BatchConfig:
    kwargs.setdefault("run_sync_in_thread", False)
    return BatchConfig(**kwargs)


def _metrics_build(*, clock: object = None, **kwargs: Any) -> MetricsConfig:
    return MetricsConfig(**kwargs)


CASES: dict[str, Case] = {
    "Timeout": Case(Timeout, _timeout, ("seconds", "name")),
    "Bulkhead": Case(
        Bulkhead,
        _bulkhead,
        ("name", "max_concurrent", "max_queue", "max_wait"),
        {"max_concurrent": 1, "max_queue": 1, "max_wait": 0.05},
        clocked=False,  # the sync waiter's wait is a real lock timeout
    ),
    "Retry": Case(
        Retry,
        _retry,
        names("max_attempts initial_delay max_delay backoff_factor jitter deadline seed name"),
    ),
    "CircuitBreaker": Case(
        CircuitBreaker,
        _breaker,
        names(
            "name failure_threshold max_failures reset_timeout exponential_backoff_factor "
            "max_reset_timeout reset_timeout_jitter window_type window_size window_buckets "
            "minimum_calls failure_rate_threshold slow_call_duration slow_call_rate_threshold "
            "half_open_max_calls success_threshold throttle_failure_rate throttle_k history_size "
            "seed"
        ),
    ),
    "PredictiveCircuitBreaker": Case(
        PredictiveCircuitBreaker,
        _predictive,
        names(
            "name bucket horizon trend_window significance anomaly_level floor "
            "min_bucket_calls latency_quantile warmup"
        ),
    ),
    "RateLimiter": Case(
        RateLimiter, _limiter, ("rate", "per", "burst", "max_wait", "name"), {"rate": 10.0}
    ),
    "Hedge": Case(
        Hedge,
        _hedge,
        names("name delay percentile min_samples sample_size max_hedged_attempts max_workers"),
        {"delay": 10.0},
    ),
    "Chaos": Case(
        _make_chaos,
        _chaos,
        names("name latency latency_rate error_rate result_rate injection_rate enabled seed"),
        {"latency": 0.5, "latency_rate": 0.3, "error_rate": 0.3, "result_rate": 0.3},
    ),
    "BackpressureHandler": Case(
        BackpressureHandler,
        _backpressure,
        names(
            "name max_buffer_size sampling_strategy adaptive_sampling thresholds rate_window "
            "event_interval"
        ),
        {"name": "bp", "max_buffer_size": 10},
    ),
    "BatchConfig": Case(
        _batch_build,
        _batch,
        names(
            "strategy max_batch_size min_batch_size max_wait max_queue_size "
            "max_concurrent_batches aging_interval adaptive_window latency_target "
            "performance_target max_retries dead_letter_max_size load_threshold load_delay"
        ),
    ),
    "PersistentRequestQueue": Case(
        _queue_build,
        _queue,
        ("max_size", "name", "lease_timeout", "poll_interval", "idempotency_ttl"),
    ),
    "DistributedCache": Case(
        DistributedCache,
        _cache,
        names(
            "memory_cache_size name default_ttl stale_grace serializer adaptive_ttl min_ttl "
            "max_ttl hot_key_hits preload baseline_sample_rate redis_prefix redis_timeout "
            "redis_failure_threshold redis_reset_timeout"
        ),
        {"redis_url": None},
    ),
    "MetricsConfig": Case(
        _metrics_build,
        _collector,
        names(
            "window_seconds window_buckets max_window_samples max_series quantiles "
            "histogram_buckets include_primitives alert_history"
        ),
    ),
    "AnomalyDetector": Case(
        _anomaly_build,
        _anomaly,
        names(
            "alpha likelihood_rate smoothing warmup novelty_tolerance rest alert_level "
            "season_bins season_period season_rate season_trust"
        ),
    ),
    "MetricTransformer": Case(
        MetricTransformer,
        _transformer,
        names(
            "name history_size smoothing_window sample_interval forecast_horizon quantiles "
            "z_threshold robust_threshold min_samples critical_score max_series"
        ),
    ),
}

CASES.update(
    {
        "AdaptiveLimiter": Case(
            AdaptiveLimiter,
            _adaptive,
            names(
                "name algorithm initial_limit min_limit max_limit max_backlog max_wait "
                "min_window max_window window_samples event_interval"
            ),
        ),
        "RetryBudget": Case(
            RetryBudget, _budget, names("percent min_retries_per_second ttl name buckets")
        ),
        "Hub": Case(Hub, _hub, names("max_queue heartbeat idle_timeout send_timeout max_clients")),
        "HistoryStore": Case(_store_build, _store, names("tiers max_buffer")),
    }
)

PAIRS = [(name, param) for name, case in CASES.items() for param in case.params]


@pytest.mark.parametrize(("name", "param"), PAIRS, ids=[f"{n}.{p}" for n, p in PAIRS])
@given(value=NASTY)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bad_values_are_refused_naming_the_parameter_or_honoured(
    name: str, param: str, value: object
) -> None:
    case = CASES[name]
    clock = HonestClock()
    kwargs = {**case.base, param: value}
    if case.clocked:
        kwargs["clock"] = clock
    try:
        built = case.build(**kwargs)
    except ConfigError as error:
        assert param in str(error), f"{name}({param}={value!r}) blamed {error.parameter}: {error}"
        return
    case.exercise(built, clock)


# -- the values that used to pass validation and crash later ------------------------------


@pytest.mark.parametrize(
    ("build", "parameter"),
    [
        (lambda: Timeout(9.3e9), "seconds"),
        (lambda: Bulkhead(max_concurrent=1, max_queue=1, max_wait=1e10), "max_wait"),
        (lambda: Retry(initial_delay=1e308, max_delay=1e308), "initial_delay"),
        (lambda: Retry(max_delay=1e308), "max_delay"),
        (lambda: Retry(deadline=1e308), "deadline"),
        (lambda: MetricsConfig(alert_history=10**100), "alert_history"),
        (lambda: CircuitBreaker(seed=[]), "seed"),  # type: ignore[arg-type]
        (lambda: CircuitBreaker(reset_timeout=1e308), "reset_timeout"),
        (lambda: CircuitBreaker(max_failures=-1), "max_failures"),
        (lambda: AnomalyDetector(rest=10**100), "rest"),
        (lambda: MetricTransformer(sample_interval=1e308), "sample_interval"),
        (lambda: DistributedCache(default_ttl=1e308, redis_url=None), "default_ttl"),
        (lambda: RateLimiter(1e-320), "rate"),
        (lambda: Hedge(max_hedged_attempts=10**9), "max_hedged_attempts"),
        (lambda: Hedge(sample_size=1), "sample_size"),
        (lambda: Chaos(latency=1e100), "latency"),
        (lambda: BatchConfig(max_wait=1e100), "max_wait"),
        (lambda: MetricsConfig(window_seconds=1e-320), "window_seconds"),
    ],
)
def test_values_that_crashed_later_are_refused_naming_the_parameter(
    build: Callable[[], object], parameter: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert parameter in str(caught.value)


def test_the_longest_accepted_waits_still_work_on_the_real_clock() -> None:
    assert Timeout(1e9).call(lambda: 1) == 1
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=1e9)
    results: list[int] = []
    with bulkhead:
        waiter = threading.Thread(target=lambda: results.append(bulkhead.call(lambda: 2)))
        waiter.start()
        for _ in range(3000):
            if bulkhead.stats()["queued"]:
                break
            waiter.join(0.01)
        assert bulkhead.stats()["queued"] == 1
    waiter.join(30)
    assert results == [2]


async def test_a_cache_with_the_longest_ttl_works() -> None:
    cache = DistributedCache(default_ttl=1e9, redis_url=None, clock=HonestClock())  # type: ignore[arg-type]
    try:
        await cache.put("k", 1)
        assert await cache.get("k") == 1
        with pytest.raises(ConfigError, match="ttl_seconds"):
            await cache.put("k", 1, ttl_seconds=1e308)
    finally:
        await cache.close()


def test_a_breaker_reopened_a_thousand_times_keeps_its_backoff_finite() -> None:
    clock = HonestClock()
    breaker = CircuitBreaker(
        failure_threshold=1,
        reset_timeout=1.0,
        exponential_backoff_factor=2.0,
        clock=clock,  # type: ignore[arg-type]
    )

    def boom() -> None:
        raise ValueError("down")

    reopened = 0
    while reopened < 1100:  # 2.0 ** 1024 used to raise OverflowError on the next opening
        try:
            breaker.call(boom)
        except ValueError:
            reopened += 1
        except RejectedError as rejected:
            assert rejected.retry_after is not None
            assert 0 < rejected.retry_after <= 600
            clock.advance(rejected.retry_after)
    assert breaker.stats()["state"] in ("OPEN", "open", "HALF_OPEN", "half_open")


@pytest.mark.parametrize(
    ("variable", "value", "build"),
    [
        ("REBELLION_TIMEOUT_SECONDS", "1e10", Timeout),
        ("REBELLION_RETRY_MAX_DELAY", "1e308", Retry),
        ("REBELLION_CIRCUIT_BREAKER_RESET_TIMEOUT", "9.3e9", CircuitBreaker),
        ("REBELLION_RETRY_MAX_ATTEMPTS", str(10**100), Retry),
    ],
)
def test_environment_defaults_have_the_same_ranges(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, build: Callable[[], object]
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        build()


def test_a_refused_value_too_big_to_print_still_gives_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"max_queue.*an integer of 16610 bits"):
        Bulkhead(max_queue=10**5000)
    with pytest.raises(ConfigError) as caught:
        Bulkhead(name=" " + "x" * 1000)
    assert len(str(caught.value)) < 400
