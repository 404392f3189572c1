"""The worked examples in the colour modules' docstrings hold (each step's example is one of its tests), and those
of the stage summary's printed form."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import icaa.pipeline.colour as colour_package

MODULES = sorted(f"{colour_package.__name__}.{info.name}" for info in pkgutil.iter_modules(colour_package.__path__)) + [
    "icaa.pipeline.summary"]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    # numpy's default print format, whatever an earlier test set
    with np.printoptions(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, floatmode="maxprec",
                         sign="-", legacy=False):
        result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
