"""Shared test settings."""

from hypothesis import settings

# Property tests draw the same examples on every run, so a CI result is reproducible;
# the database stays off so tests write nothing outside their temporary folders.
settings.register_profile("project", derandomize=True, database=None, deadline=None)
settings.load_profile("project")
