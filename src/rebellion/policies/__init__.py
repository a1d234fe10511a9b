"""Resilience policies: circuit breaker, retry, timeout, fallback, pipeline, recovery."""
