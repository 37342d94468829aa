"""Fixtures of the scheduler's API tests: alice and her API client."""

import pytest

from tests.api.conftest import client_for
from tests.factories import UserFactory


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def api(user):
    return client_for(user)
