"""``get_optimization_report()``: what the optimiser did, from the cache's own counters.

Every figure is read from a counter the cache maintains while serving; nothing is
modelled. The "without optimiser" hit ratio comes from the shadow plain LRU that
replays the same reads on a sample of keys (see ``_memory``); both ratios in the
comparison are taken over that same sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import DistributedCache

__all__ = ["optimization_report"]


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def optimization_report(cache: DistributedCache) -> dict[str, Any]:
    """Return access patterns and the measured effect of each optimiser feature."""
    memory = cache._memory
    optimizer = cache._optimizer
    cfg = cache.config
    rescued_hits, preloads_used, preloads_pending, size = memory.live_counts()
    hits, misses = memory.hits(), memory.miss.value
    shadow_gets, sampled_hits, shadow_hits = memory.shadow_counts()
    with_opt = _ratio(sampled_hits, shadow_gets)
    without = _ratio(shadow_hits, shadow_gets)
    metrics = cache._metrics
    lower = [m for name, m in metrics.items() if name != "memory" and m.latencies]
    lower_latency = max((m.mean_latency for m in lower), default=0.0)
    saved = preloads_used * max(0.0, lower_latency - metrics["memory"].mean_latency)
    with optimizer.lock:
        relations = sum(len(t) for t in optimizer.successors.values())
        declared = len(optimizer.declared)
        extended, shortened, unchanged = (
            optimizer.ttl_extended,
            optimizer.ttl_shortened,
            optimizer.ttl_default,
        )
    return {
        "access_patterns": {
            "memory_hits": hits,
            "memory_misses": misses,
            "memory_hit_ratio": _ratio(hits, hits + misses),
            "memory_size": size,
            "top_keys": optimizer.top_keys(10),
            "learned_successors": relations,
            "declared_relations": declared,
        },
        "hit_ratio": {
            "sample_rate": cfg.baseline_sample_rate,
            "sampled_reads": shadow_gets,
            "with_optimizer": with_opt,
            "without_optimizer": without,
            "gain": None if with_opt is None or without is None else with_opt - without,
        },
        "hot_key_protection": {
            "enabled": cfg.hot_key_hits is not None,
            "hot_key_hits": cfg.hot_key_hits,
            "hot_evictions_avoided": memory.hot_rescues,
            "hits_on_protected_keys": rescued_hits,
            "evictions": memory.evictions,
            "expired_removed": memory.expired,
        },
        "adaptive_ttl": {
            "enabled": cfg.adaptive_ttl,
            "ttl_extended": extended,
            "ttl_shortened": shortened,
            "ttl_unchanged": unchanged,
            "hits_beyond_requested_ttl": memory.beyond_base.value,
        },
        "preloading": {
            "enabled": cache._preloading,
            "started": cache.counts["preloads_started"],
            "found": cache.counts["preloads_found"],
            "used": preloads_used,
            "unused_evicted": memory.preload_wasted,
            "unused_pending": preloads_pending,
            "estimated_seconds_saved": saved,
        },
    }
