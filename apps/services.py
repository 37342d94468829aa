"""Writes on apps, their collaborators, keys, users and API tokens."""

import random
import secrets
import string
from datetime import timedelta

import asyncssh
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.models import (
    APP_NAME_RULE,
    TOKEN_PREFIX_LENGTH,
    ApiToken,
    App,
    Collaborator,
    Event,
    EventAction,
    Key,
    token_key_hash,
)
from apps.selectors import app_may_manage
from apps.sshkeys import SignatureError, key_weakness, signature_verify
from paas.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded

# Adding an SSH key takes proof that the caller holds its private key: a signature of a challenge from the platform.
KEY_PROOF_NAMESPACE = "paas-key"  # the `ssh-keygen -Y sign -n` namespace: such a signature is good for nothing else
KEY_CHALLENGE_MAX_AGE = 600  # seconds
KEY_PROOF_HOWTO = (
    "`paas keys add` makes the proof for you; by hand, sign the text of a challenge from POST /api/keys/challenge/ "
    "(no newline after it) with: ssh-keygen -Y sign -n paas-key -f PRIVATE_KEY_FILE CHALLENGE_FILE"
)
_KEY_CHALLENGE_SALT = "paas.apps.key-challenge"

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
            _quota_check_apps(owner)
            app.save()
            Formation.objects.create(app=app)
            event_record(app=app, actor=owner, action=EventAction.APP_CREATE, detail=f"created {name}")
    except IntegrityError as error:
        raise Conflict(f"app {name!r} already exists; choose another name") from error
    return app


def _quota_check_apps(owner) -> None:
    """Refuses a new app when `owner` (not staff) owns PAAS_QUOTA_APPS already; their row is locked meanwhile."""
    if owner.is_staff:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    owned, limit = App.objects.filter(owner=owner).count(), settings.PAAS_QUOTA_APPS
    if owned >= limit:
        raise QuotaExceeded(
            f"{owner.username} owns {owned} apps, the most allowed (PAAS_QUOTA_APPS={limit}); "
            "destroy one first (paas destroy), or ask an operator to raise the limit"
        )


def key_parse(public_key: str) -> tuple[str, str, str]:
    """Parses an OpenSSH public key line into (normalised key, SHA256 fingerprint, comment)."""
    text = (public_key or "").strip()
    if "PRIVATE KEY" in text:
        raise InvalidInput("that is a private key; add the public key (the .pub file) instead")
    try:
        key = asyncssh.import_public_key(text)
    except Exception as error:  # asyncssh raises many kinds of errors on a malformed key, not only KeyImportError
        raise InvalidInput(
            "not a valid SSH public key; pass an OpenSSH public key such as ~/.ssh/id_ed25519.pub"
        ) from error
    weakness = key_weakness(key)
    if weakness:
        raise InvalidInput(f"{weakness}; make a stronger key with: ssh-keygen -t ed25519")
    comment = key.get_comment() or ""
    normalised = key.export_public_key("openssh").decode().strip()
    return normalised, key.get_fingerprint("sha256"), comment


def key_challenge_create(*, user) -> str:
    """A challenge for `user` to sign with the private key of a key they add (key_add_proven); it lasts
    KEY_CHALLENGE_MAX_AGE seconds. Nothing is stored: it is signed with the platform's secret key."""
    return signing.TimestampSigner(salt=_KEY_CHALLENGE_SALT).sign(f"{user.pk}:{secrets.token_urlsafe(24)}")


def key_add_proven(*, user, public_key: str, challenge: str, signature: str) -> Key:
    """Registers an SSH public key for `user` once they prove that they hold its private key.

    The proof is `signature`, an SSH signature (`ssh-keygen -Y sign -n paas-key`) of exactly the text `challenge`,
    made by that key, over a challenge this platform gave `user` (key_challenge_create) and that has not expired.
    So nobody can claim a public key that is not theirs, and lock its holder out of git.
    """
    _normalised, fingerprint, _comment = key_parse(public_key)
    _key_challenge_check(user=user, challenge=challenge)
    try:
        signer = signature_verify(signature or "", message=challenge.encode(), namespace=KEY_PROOF_NAMESPACE)
    except SignatureError as error:
        raise InvalidInput(f"the signature does not prove that you hold the key: {error}. {KEY_PROOF_HOWTO}") from error
    if signer.get_fingerprint("sha256") != fingerprint:
        raise InvalidInput(
            f"the challenge was signed with the key {signer.get_fingerprint('sha256')}, not with the key you are "
            f"adding ({fingerprint}); sign it with that key's own private key"
        )
    return key_add(user=user, public_key=public_key)


def _key_challenge_check(*, user, challenge: str) -> None:
    """Refuses a challenge that this platform did not give `user`, or gave too long ago."""
    if not challenge:
        raise InvalidInput(f"adding a key needs proof that you hold its private key. {KEY_PROOF_HOWTO}")
    try:
        issued_to = signing.TimestampSigner(salt=_KEY_CHALLENGE_SALT).unsign(challenge, max_age=KEY_CHALLENGE_MAX_AGE)
    except signing.SignatureExpired as error:
        raise InvalidInput(
            f"the challenge has expired (each lasts {KEY_CHALLENGE_MAX_AGE // 60} minutes); run `paas keys add` again"
        ) from error
    except signing.BadSignature as error:
        raise InvalidInput(f"that challenge was not made by this platform. {KEY_PROOF_HOWTO}") from error
    if issued_to.split(":")[0] != str(user.pk):
        raise InvalidInput(f"that challenge was given to another user. {KEY_PROOF_HOWTO}")


def key_add(*, user, public_key: str) -> Key:
    """Registers an SSH public key for `user`, so that they can git push.

    It takes no proof that `user` holds the key's private key: callers on behalf of users call key_add_proven.
    """
    normalised, fingerprint, comment = key_parse(public_key)
    key = Key(user=user, fingerprint=fingerprint, public_key=normalised, comment=comment[:200])
    try:
        with transaction.atomic():
            key.full_clean(validate_unique=False)
            _quota_check_keys(user)
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


def _quota_check_keys(user) -> None:
    """Refuses a new SSH key when `user` (not staff) has PAAS_QUOTA_KEYS already; their row is locked meanwhile."""
    if user.is_staff:
        return
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    held, limit = Key.objects.filter(user=user).count(), settings.PAAS_QUOTA_KEYS
    if held >= limit:
        raise QuotaExceeded(
            f"you have {held} SSH keys, the most allowed (PAAS_QUOTA_KEYS={limit}); "
            "remove one first with: paas keys remove FINGERPRINT"
        )


def app_manage_check(*, app: App, actor, doing: str) -> None:
    """Refuses (403) anyone but `app`'s owner and staff: collaborators may change an app, not manage it."""
    if actor is not None and not app_may_manage(app=app, user=actor):
        raise Forbidden(f"only {app.owner.username} (the owner of {app.name}) or staff may {doing}")


def access_add(*, app: App, username: str, actor) -> Collaborator:
    """Lets the user `username` see and change `app` (push, scale, config, rollback, restart); owner or staff only."""
    app_manage_check(app=app, actor=actor, doing=f"change who has access to {app.name}")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"no user {username!r}; staff create users with: paas users create NAME")
    if user.pk == app.owner_id:
        raise Conflict(f"{username} owns {app.name}; an owner needs no access added")
    try:
        with transaction.atomic():
            collaborator = Collaborator.objects.create(app=app, user=user)
            event_record(app=app, actor=actor, action=EventAction.ACCESS_ADD, detail=f"added collaborator {username}")
    except IntegrityError as error:
        raise Conflict(f"{username} is already a collaborator on {app.name}") from error
    return collaborator


def access_remove(*, app: App, username: str, actor) -> None:
    """Takes `app` away from the collaborator `username`; owner or staff only."""
    app_manage_check(app=app, actor=actor, doing=f"change who has access to {app.name}")
    with transaction.atomic():
        deleted, _ = Collaborator.objects.filter(app=app, user__username=username).delete()
        if not deleted:
            raise NotFound(f"{username!r} is not a collaborator on {app.name}; `paas access` lists them")
        detail = f"removed collaborator {username}"
        event_record(app=app, actor=actor, action=EventAction.ACCESS_REMOVE, detail=detail)


def user_create(*, username: str, is_staff: bool = False, actor) -> tuple:
    """Creates a user with a first API token; returns (user, token, key): the key is shown this once.

    Staff only (`actor` None is the platform itself: manage.py). A staff user is an operator: is_staff and
    is_superuser, so that they see every app in the console as in the API. Users log in with tokens; none
    has a password until one is set (manage.py changepassword), which only the console needs.
    """
    if actor is not None and not actor.is_staff:
        raise Forbidden("only staff may create users")
    user = get_user_model()(username=username, is_staff=is_staff, is_superuser=is_staff)
    user.set_unusable_password()
    try:
        user.full_clean(validate_unique=False)
    except ValidationError as error:
        raise InvalidInput(f"invalid user name {username!r}: {' '.join(error.messages)}") from error
    try:
        with transaction.atomic():
            user.save()
            detail = f"created user {username}" + (" (staff)" if is_staff else "")
            event_record(app=None, actor=actor, action=EventAction.USER_CREATE, detail=detail)
            token, key = token_create(user=user, name="first token", actor=actor)
    except IntegrityError as error:
        raise Conflict(f"user {username!r} already exists") from error
    return user, token, key


TOKEN_ALPHABET = string.ascii_letters + string.digits


def token_create(*, user, name: str, expires_in: timedelta | None = None, actor) -> tuple[ApiToken, str]:
    """Makes an API token for `user`; returns it and its key, which is shown this once and never stored.

    Only the key's first characters and its SHA-256 are kept. With `expires_in`, the token stops working then.
    """
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("a token's lifetime is positive, such as 30d")
    key = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(43))  # 256 bits; no '-' to pass for an option
    expires_at = timezone.now() + expires_in if expires_in is not None else None
    token = ApiToken(
        user=user, name=name, key_prefix=key[:TOKEN_PREFIX_LENGTH], key_hash=token_key_hash(key), expires_at=expires_at
    )
    try:
        token.full_clean()
    except ValidationError as error:
        raise InvalidInput(f"invalid token name {name!r}: {' '.join(error.messages)}") from error
    with transaction.atomic():
        token.save()
        detail = f"created token {token.key_prefix} ({name}) for {user.username}"
        event_record(app=None, actor=actor, action=EventAction.TOKEN_CREATE, detail=detail)
    return token, key


def token_revoke(*, user, token_id: int, actor) -> None:
    """Revokes one of `user`'s API tokens: requests made with it are refused from now on."""
    with transaction.atomic():
        token = ApiToken.objects.filter(user=user, pk=token_id).first()
        if token is None:
            raise NotFound(f"no token {token_id} of yours; `paas tokens` lists them")
        token.delete()
        detail = f"revoked token {token.key_prefix} ({token.name}) of {user.username}"
        event_record(app=None, actor=actor, action=EventAction.TOKEN_REVOKE, detail=detail)


def token_touch(*, token: ApiToken) -> None:
    """Notes that `token` was just used; at most once a minute, so that requests do not each write."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
