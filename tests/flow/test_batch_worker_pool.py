"""``worker_pool_size``: a processor's own thread pool for a sync process function."""

from __future__ import annotations

import threading

import pytest

from rebellion import ConfigError
from rebellion.flow import BatchConfig, BatchProcessor


async def test_a_sync_function_runs_on_the_processors_own_pool() -> None:
    threads: set[str] = set()

    def process(items: list[int]) -> None:
        threads.add(threading.current_thread().name)

    config = BatchConfig(max_batch_size=10, worker_pool_size=2, max_concurrent_batches=2)
    processor = BatchProcessor("pooled", process, config)
    await processor.start()
    await processor.submit_batch(range(100))
    assert await processor.stop() == 0
    assert threads
    assert all(name.startswith("rebellion-batch-pooled") for name in threads)
    # A restarted processor gets a fresh pool.
    await processor.start()
    await processor.submit_batch(range(10))
    assert await processor.stop() == 0


@pytest.mark.parametrize("size", [0, -1, 1.5, 5000])
def test_worker_pool_size_is_validated(size: object) -> None:
    with pytest.raises(ConfigError, match="worker_pool_size"):
        BatchConfig(worker_pool_size=size)  # type: ignore[arg-type]
