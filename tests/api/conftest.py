import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory, token_for


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


def client_for(user) -> APIClient:
    """An API client that authenticates as `user` with a token, as the CLI does."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def api(user):
    return client_for(user)
