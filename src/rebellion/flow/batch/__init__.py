"""Batch processing: strategies, retries, poison-item bisection and a dead-letter queue.

>>> config = BatchConfig(strategy=BatchStrategy.SIZE_BASED, max_batch_size=50)
>>> BatchProcessor("doc_pkg", lambda items: None, config).target_batch_size()
50
"""

from ._config import BatchConfig, BatchPriority, BatchResult, BatchStrategy, DeadLetter
from .processor import BatchProcessor

__all__ = [
    "BatchConfig",
    "BatchPriority",
    "BatchProcessor",
    "BatchResult",
    "BatchStrategy",
    "DeadLetter",
]
