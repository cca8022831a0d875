"""Shared pytest set-up: headless plotting, a fresh generator per test, and (under make test)
a failure instead of a skip when a test oracle is missing (see ``oracles.py``)."""

import os

import numpy as np
import pytest

from oracles import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    """A seeded generator, so every test is reproducible."""
    return np.random.default_rng(0)
