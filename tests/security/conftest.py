"""Security tests: the unit ones run in memory; the end-to-end ones reuse the e2e platform fixtures."""

from tests.e2e.conftest import logged_in, platform  # noqa: F401
