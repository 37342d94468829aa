"""Test data, made through the platform's own services where they exist."""

import factory
from django.contrib.auth import get_user_model

from apps.models import Event, EventAction
from apps.services import app_create, token_create
from artifacts.services import artifact_create
from formations.services import formation_deploy
from releases.services import release_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")


def token_for(user, name: str = "test", expires_in=None) -> str:
    """A new API token of `user`, made by the token service: its raw key, for `Authorization: Token KEY`."""
    token, key = token_create(user=user, name=name, expires_in=expires_in, actor=None)
    # Set-up, not a change the test makes: its audit row would show among the events that tests count.
    Event.objects.filter(
        action=EventAction.TOKEN_CREATE, detail__startswith=f"created token {token.key_prefix} "
    ).delete()
    return key


def make_app(name: str = "myapp", owner=None):
    return app_create(owner=owner or UserFactory(), name=name)


def make_release(app, processes=None, config=None, image="paas-app/myapp:1"):
    artifact = artifact_create(app=app, image=image, image_id="sha256:" + "0" * 64)
    return release_create(
        app=app, artifact=artifact, processes=processes or {"web": "python app.py"}, actor=app.owner, config=config
    )


def deploy(app, processes=None, config=None):
    release = make_release(app, processes=processes, config=config)
    formation_deploy(app=app, release=release, actor=app.owner)
    return release
