"""Writes on apps and keys."""

import random

import asyncssh
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.models import APP_NAME_RULE, App, Event, EventAction, Key
from paas.errors import Conflict, InvalidInput, NotFound

_NAME_WORDS = (
    ("calm", "brave", "quiet", "bright", "swift", "gentle", "bold", "lucky", "shiny", "sunny"),
    ("river", "forest", "meadow", "harbor", "canyon", "summit", "island", "valley", "comet", "breeze"),
)


def app_name_generate() -> str:
    """A free, Heroku-style random app name such as `quiet-harbor-4821`."""
    for _ in range(50):
        name = f"{random.choice(_NAME_WORDS[0])}-{random.choice(_NAME_WORDS[1])}-{random.randint(1000, 9999)}"
        if not App.objects.filter(name=name).exists():
            return name
    raise Conflict("could not find a free app name; pass one explicitly")


def event_record(*, app: App | None, actor, action: EventAction, detail: str = "") -> Event:
    """Writes an audit row; call it inside the transaction of the change it records."""
    return Event.objects.create(
        app=app, app_name=app.name if app else "", actor=actor, action=action, detail=detail[:500]
    )


def app_create(*, owner, name: str | None = None) -> App:
    """Creates an app owned by `owner`, named `name` or a generated name, with an empty formation."""
    from formations.models import Formation  # the formation is part of an app from its first moment

    name = name or app_name_generate()
    app = App(name=name, owner=owner)
    try:
        app.full_clean(validate_unique=False)
    except ValidationError as error:
        raise InvalidInput(f"invalid app name {name!r}: an app name has {APP_NAME_RULE}") from error
    try:
        with transaction.atomic():
            app.save()
            Formation.objects.create(app=app)
            event_record(app=app, actor=owner, action=EventAction.APP_CREATE, detail=f"created {name}")
    except IntegrityError as error:
        raise Conflict(f"app {name!r} already exists; choose another name") from error
    return app


def key_parse(public_key: str) -> tuple[str, str, str]:
    """Parses an OpenSSH public key line into (normalised key, SHA256 fingerprint, comment)."""
    text = (public_key or "").strip()
    if "PRIVATE KEY" in text:
        raise InvalidInput("that is a private key; add the public key (the .pub file) instead")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as error:
        raise InvalidInput(
            f"not a valid SSH public key ({error}); pass an OpenSSH public key such as ~/.ssh/id_ed25519.pub"
        ) from error
    comment = key.get_comment() or ""
    normalised = key.export_public_key("openssh").decode().strip()
    return normalised, key.get_fingerprint("sha256"), comment


def key_add(*, user, public_key: str) -> Key:
    """Registers an SSH public key for `user`, so that they can git push."""
    normalised, fingerprint, comment = key_parse(public_key)
    key = Key(user=user, fingerprint=fingerprint, public_key=normalised, comment=comment[:200])
    try:
        with transaction.atomic():
            key.full_clean(validate_unique=False)
            key.save()
            event_record(app=None, actor=user, action=EventAction.KEY_ADD, detail=f"added key {fingerprint}")
    except IntegrityError as error:
        raise Conflict(f"key {fingerprint} is already registered") from error
    return key


def key_remove(*, user, fingerprint: str) -> None:
    """Removes one of `user`'s keys by its fingerprint."""
    with transaction.atomic():
        deleted, _ = Key.objects.filter(user=user, fingerprint=fingerprint).delete()
        if not deleted:
            raise NotFound(f"no key with fingerprint {fingerprint}; `paas keys` lists yours")
        event_record(app=None, actor=user, action=EventAction.KEY_REMOVE, detail=f"removed key {fingerprint}")
