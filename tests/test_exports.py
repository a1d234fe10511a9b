"""The curated public surface: ``__all__`` is the contract."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import rebellion


def test_every_public_name_resolves() -> None:
    for name in rebellion.__all__:
        assert hasattr(rebellion, name), name


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in rebellion.__all__ if n != "__version__"]
    assert len(set(rebellion.__all__)) == len(rebellion.__all__)
    assert names == sorted(names)


def test_no_public_module_name_leaks_private_helpers() -> None:
    leaked = [n for n in rebellion.__all__ if n.startswith("_") and n != "__version__"]
    assert leaked == []


def test_core_import_needs_no_optional_dependency() -> None:
    # The core toolkit's required dependencies stay empty; numpy/rich/redis are extras.
    heavy = {"numpy", "rich", "redis", "fastapi", "psutil"}
    code = "import rebellion, sys; print(sorted(m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(eval(out.stdout))
    assert not (heavy & loaded)


def test_every_module_imports() -> None:
    for info in pkgutil.walk_packages(rebellion.__path__, "rebellion."):
        importlib.import_module(info.name)
