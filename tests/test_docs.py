"""Every public name of fnnet has a docstring; modules say what they hold."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import fnnet

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(fnnet.__path__, "fnnet.") if not m.name.endswith("__")
)


@pytest.mark.parametrize("name", MODULES)
def test_public_names_have_docstrings(name: str) -> None:
    module = importlib.import_module(name)
    assert inspect.getdoc(module), f"{name} has no module docstring"
    missing = []
    for public in getattr(module, "__all__", []):
        obj = getattr(module, public)
        if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue  # constants, type aliases and layer instances are documented in the module
        if not inspect.getdoc(obj):
            missing.append(public)
    assert not missing, f"{name}: no docstring on {missing}"
