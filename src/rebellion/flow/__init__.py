"""Flow control: backpressure buffers and batch processors.

>>> bp = BackpressureHandler("doc_flow", max_buffer_size=2, sampling_strategy="oldest")
>>> bp.add_item("a"), bp.add_item("b"), bp.add_item("c")
(True, True, False)
>>> bp.get_batch(max_batch_size=10)
['a', 'b']
"""

from ._bp_config import DropReason, SamplingStrategy
from ._events import BatchCompleted, BatchFailed, ItemsDeadLettered, ItemsDropped, PressureChanged
from .backpressure import BackpressureHandler, get_backpressure_handler
from .batch import (
    BatchConfig,
    BatchPriority,
    BatchProcessor,
    BatchResult,
    BatchStrategy,
    DeadLetter,
)

__all__ = [
    "BackpressureHandler",
    "BatchCompleted",
    "BatchConfig",
    "BatchFailed",
    "BatchPriority",
    "BatchProcessor",
    "BatchResult",
    "BatchStrategy",
    "DeadLetter",
    "DropReason",
    "ItemsDeadLettered",
    "ItemsDropped",
    "PressureChanged",
    "SamplingStrategy",
    "get_backpressure_handler",
]
