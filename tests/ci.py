"""Whether the suite runs under CI, where a missing peer is a failure rather than a skip."""

from __future__ import annotations

import os

_TRUE = {"1", "true", "yes"}


def under_ci() -> bool:
    """True for CI=1, CI=true, CI=TRUE, CI=yes... (any case): CI services set different
    spellings, and each must mean the same."""
    return os.environ.get("CI", "").strip().lower() in _TRUE
