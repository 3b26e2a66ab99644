"""Tests that need a system package (PostgreSQL, Chromium, PulseAudio) the machine may lack."""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip where a developer lacks a system package; in CI (which installs them all) fail."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
