"""Clients for the external systems the toolkit can share state through.

Each backend has one module that every feature uses, so a change in a client library
breaks (and is fixed) in one place.
"""

from __future__ import annotations

__all__: list[str] = []
