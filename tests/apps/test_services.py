import asyncssh
import pytest

from apps.models import App
from apps.services import app_create, key_add, key_remove
from paas.errors import Conflict, InvalidInput, NotFound
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _public_key(comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key().decode()


def test_create_app_with_a_name():
    app = app_create(owner=UserFactory(), name="my-app-1")
    assert App.objects.get(name="my-app-1").owner == app.owner


def test_create_app_without_a_name_generates_one():
    app = app_create(owner=UserFactory())
    assert App.objects.filter(name=app.name).exists()
    assert len(app.name.split("-")) == 3


@pytest.mark.parametrize("name", ["My-App", "a", "1app", "app-", "app_name", "x" * 31, "app name"])
def test_invalid_app_names_are_refused_with_the_rule(name):
    with pytest.raises(InvalidInput, match="lowercase letters, digits and dashes"):
        app_create(owner=UserFactory(), name=name)
    assert not App.objects.exists()


def test_a_taken_name_is_a_conflict():
    app_create(owner=UserFactory(), name="taken")
    with pytest.raises(Conflict, match="already exists"):
        app_create(owner=UserFactory(), name="taken")


def test_add_and_remove_a_key():
    user = UserFactory()
    key = key_add(user=user, public_key=_public_key())
    assert key.fingerprint.startswith("SHA256:")
    assert key.comment == "me@laptop"
    key_remove(user=user, fingerprint=key.fingerprint)
    assert not user.keys.exists()


def test_garbage_is_not_a_key():
    with pytest.raises(InvalidInput, match="not a valid SSH public key"):
        key_add(user=UserFactory(), public_key="ssh-ed25519 not-base64!!")


def test_a_private_key_is_refused():
    private = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    with pytest.raises(InvalidInput, match="private key"):
        key_add(user=UserFactory(), public_key=private)


def test_a_key_belongs_to_one_user_only():
    public = _public_key()
    key_add(user=UserFactory(), public_key=public)
    with pytest.raises(Conflict):
        key_add(user=UserFactory(), public_key=public)


def test_removing_an_unknown_key_says_so():
    with pytest.raises(NotFound):
        key_remove(user=UserFactory(), fingerprint="SHA256:nope")
