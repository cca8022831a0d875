"""Under ``make test`` a missing test oracle is a failure, not a skip.

Tests skip when an optional oracle (torch, scikit-learn, pycocotools, tensorboard, matplotlib,
Chromium) is missing, so the NumPy engine stays testable on a bare machine. ``make test``
installs every oracle and sets ``VISIONBLOCKS_REQUIRE_ORACLES=1``; there a skip whose reason
says something could not be imported or is not installed becomes a failure, so a broken
install cannot pass by skipping the checks that matter. The conftest imports these hooks.
"""

from __future__ import annotations

import os
import re

import pytest

REQUIRE_ORACLES = "VISIONBLOCKS_REQUIRE_ORACLES"
_MISSING = re.compile(r"could not import|not installed|no module named", re.IGNORECASE)


def _missing_oracle(report) -> str | None:
    """The skip reason when ``report`` is a skip for a missing oracle that must not skip."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    if os.environ.get(REQUIRE_ORACLES, "") != "1":
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason if _MISSING.search(reason) else None


def _fail(report, reason):
    report.outcome = "failed"
    report.longrepr = (
        f"{REQUIRE_ORACLES}=1 (make test installs every test oracle), but this test would "
        f"have been skipped: {reason}"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turns a test's missing-oracle skip into a failure."""
    outcome = yield
    report = outcome.get_result()
    reason = _missing_oracle(report)
    if reason is not None:
        _fail(report, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Turns a module-level ``pytest.importorskip`` of a missing oracle into a failure."""
    outcome = yield
    report = outcome.get_result()
    reason = _missing_oracle(report)
    if reason is not None:
        _fail(report, reason)
