"""The curated public surface: ``__all__`` is the contract, everything else is lazy."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import subprocess
import sys

import pytest

import rebellion

# Everything the root exported before it was curated, plus the names the seed
# documents import from ``rebellion``: each must keep resolving (lazily).
COMPATIBLE_NAMES = sorted(rebellion._LAZY)
SEED_NAMES = [
    "AnomalyDetector",
    "BackpressureHandler",
    "CircuitBreaker",
    "CircuitOpenException",
    "ErrorSeverity",
    "MetricsCollector",
    "SystemOperationMode",
    "get_backpressure_handler",
    "get_circuit_breaker",
    "get_metric_transformer",
    "with_error_recovery",
]
OPTIONAL = ("numpy", "redis", "rich", "fastapi", "psutil", "msgpack", "prometheus_client")
HEAVY_PACKAGES = ("rebellion.cache", "rebellion.durable", "rebellion.health", "rebellion.flow")


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(sorted(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(eval(out))


def _public(names: object) -> set[str]:
    return {
        name
        for name in names  # type: ignore[attr-defined]
        if not name.startswith("_") and not inspect.ismodule(getattr(rebellion, name))
    }


def test_all_equals_the_public_names_sorted() -> None:
    # httpx's guard: nothing public is defined at the root without being exported, and
    # the exported names that are not defined yet are lazy attributes.
    defined = _public(vars(rebellion))
    assert rebellion.__all__ == sorted(_public(dir(rebellion)) | {"__version__"})
    assert defined <= set(rebellion.__all__)
    assert set(rebellion.__all__) - defined - {"__version__"} <= set(rebellion._LAZY)


def test_root_is_curated() -> None:
    assert 30 <= len(rebellion.__all__) <= 45
    assert not any(name.endswith(("Changed", "Recorded", "Started")) for name in rebellion.__all__)


@pytest.mark.parametrize("name", rebellion.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(rebellion, name) is not None


@pytest.mark.parametrize("name", COMPATIBLE_NAMES)
def test_every_former_root_name_still_imports_from_the_root(name: str) -> None:
    value = getattr(rebellion, name)
    home = importlib.import_module(f"rebellion.{rebellion._LAZY[name]}")
    assert getattr(home, name) is value


def test_seed_names_import_from_the_root() -> None:
    for name in SEED_NAMES:
        assert hasattr(rebellion, name), name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        rebellion.no_such_name  # noqa: B018


def test_version_comes_from_the_package_metadata() -> None:
    assert rebellion.__version__ == importlib.metadata.version("system-rebellion")


def test_importing_the_root_loads_no_optional_dependency_or_heavy_package() -> None:
    loaded = _loaded_after("import rebellion")
    assert not {m for m in loaded if m.split(".")[0] in OPTIONAL}
    assert not {m for m in loaded if m.startswith(HEAVY_PACKAGES)}


@pytest.mark.parametrize(
    "module",
    [
        "rebellion.policies.retry",
        "rebellion.policies.circuit_breaker",
        "rebellion.policies.recovery",
        "rebellion.policies.pipeline",
        "rebellion.config",
        "rebellion.testing",
        "rebellion.integrations",
        "rebellion.cli",
    ],
)
def test_importing_a_policy_module_loads_no_heavy_package(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not {m for m in loaded if m.startswith(HEAVY_PACKAGES)}
    assert "numpy" not in loaded


def test_seed_metric_names_load_numpy_only_when_used() -> None:
    loaded = _loaded_after("from rebellion import CircuitBreaker, get_backpressure_handler")
    assert "numpy" not in loaded
    loaded = _loaded_after("from rebellion import AnomalyDetector, get_metric_transformer")
    assert "numpy" in loaded  # AnomalyDetector is NumPy's
    loaded = _loaded_after("from rebellion import get_metric_transformer")
    assert "numpy" not in loaded
    loaded = _loaded_after("import rebellion; rebellion.get_metric_transformer('cpu')")
    assert "numpy" in loaded


def test_every_error_is_in_the_errors_module() -> None:
    from rebellion import errors

    for info in pkgutil.walk_packages(rebellion.__path__, "rebellion."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, errors.RebellionError)
                and value.__module__ == info.name != "rebellion.errors"
                and not name.startswith("_")
            ):
                # httpx errors must subclass httpx's own, so they live beside httpx.
                assert info.name.startswith("rebellion.integrations"), (info.name, name)


def test_every_module_imports() -> None:
    for info in pkgutil.walk_packages(rebellion.__path__, "rebellion."):
        importlib.import_module(info.name)


def test_a_star_import_loads_no_optional_dependency() -> None:
    loaded = _loaded_after("from rebellion import *")
    assert not {m for m in loaded if m.split(".")[0] in OPTIONAL}
    assert not {m for m in loaded if m.startswith("rebellion.durable")}
