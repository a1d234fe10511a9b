"""Docstring examples are executed, so they stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rebellion

MODULES = sorted(info.name for info in pkgutil.walk_packages(rebellion.__path__, "rebellion."))


@pytest.mark.parametrize("module_name", ["rebellion", *MODULES])
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {module_name}"
