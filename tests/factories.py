"""Test data, made through the platform's own services where they exist."""

import factory
from django.contrib.auth import get_user_model

from apps.services import app_create
from artifacts.services import artifact_create
from formations.services import formation_deploy
from releases.services import release_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")


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
