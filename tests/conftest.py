"""Shared test settings and fixtures (the shared helpers are in tests/helpers.py)."""

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a CI result is reproducible;
# the database stays off so tests write nothing outside their temporary folders.
settings.register_profile("project", derandomize=True, database=None, deadline=None)
settings.load_profile("project")


@pytest.fixture
def work_in_tmp(tmp_path, monkeypatch):
    """Run the test in ``tmp_path``, so relative and default output paths land there."""
    monkeypatch.chdir(tmp_path)
