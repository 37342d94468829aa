"""Custom domains: the names an app answers at besides APP.PAAS_DOMAIN, their certificates, and HTTPS redirects.

Each change wakes the scheduler, whose next pass loads the new route table into the router.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.models import App, Domain, EventAction
from apps.services import event_record
from paas.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from paas.wakeups import wakeup

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NOT_IN_A_NAME = re.compile(r"[/:@?#\s\\]")


def domain_name_clean(raw: str) -> str:
    """A domain name as the router matches it (lowercase, IDNA), or InvalidInput saying what is wrong with it."""
    text = str(raw).strip().lower().rstrip(".")
    if not text:
        raise InvalidInput("give a domain name, such as www.example.com")
    if _NOT_IN_A_NAME.search(text):
        raise InvalidInput(f"{raw!r} is not a domain name: give the name only, with no scheme, port or path")
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    if "*" in rest:
        raise InvalidInput(f"{raw!r}: a wildcard may only be the whole first label, as in *.example.com")
    try:
        name = rest if rest.isascii() else rest.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(f"{raw!r} is not a valid international domain name") from None
    _domain_labels_check(raw, name, wildcard)
    return f"*.{name}" if wildcard else name


def _domain_labels_check(raw: str, name: str, wildcard: bool) -> None:
    own = settings.PAAS_DOMAIN.lower()
    if name == own or name.endswith(f".{own}"):
        raise InvalidInput(
            f"names under {own} are the platform's own: every app already answers at APP.{own}; "
            "add a domain of your own"
        )
    labels = name.split(".")
    if len(labels) < 2:
        raise InvalidInput(f"{raw!r} is not a full domain name: give one with a dot, such as www.example.com")
    if len(name) + (2 if wildcard else 0) > 253:
        raise InvalidInput(f"{raw!r} is longer than a domain name may be (253 characters)")
    bad = next((label for label in labels if not _LABEL.match(label)), None)
    if bad is not None:
        raise InvalidInput(
            f"{raw!r}: {bad!r} is not a valid label (1 to 63 letters, digits or dashes, not starting or ending "
            "with a dash)"
        )
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise InvalidInput(f"{raw!r} is an IP address; an app's domain is a name")


def domain_add(*, app: App, name: str, actor) -> Domain:
    """Makes `app` answer at `name` too; a name belongs to one app."""
    name = domain_name_clean(name)
    if Domain.objects.filter(app=app).count() >= settings.PAAS_QUOTA_DOMAINS:
        raise QuotaExceeded(
            f"{app.name} has {settings.PAAS_QUOTA_DOMAINS} domains, the most an app may have (PAAS_QUOTA_DOMAINS); "
            "remove one first"
        )
    existing = Domain.objects.filter(name=name).select_related("app").first()
    if existing is not None:
        whose = f"{app.name}'s already" if existing.app_id == app.pk else "another app's"
        raise Conflict(f"{name} is {whose}; a domain belongs to one app (remove it there first)")
    try:
        with transaction.atomic():
            domain = Domain.objects.create(app=app, name=name)
            event_record(app=app, actor=actor, action=EventAction.DOMAIN_ADD, detail=name)
    except IntegrityError:
        raise Conflict(f"{name} is another app's; a domain belongs to one app (remove it there first)") from None
    transaction.on_commit(lambda: wakeup("scheduler"))
    return domain


def domain_get(*, app: App, name: str) -> Domain:
    """One of `app`'s domains, or NotFound."""
    try:
        cleaned = domain_name_clean(name)
    except InvalidInput:
        cleaned = name
    domain = Domain.objects.filter(app=app, name=cleaned).first()
    if domain is None:
        raise NotFound(f"{app.name} has no domain {name}; `paas domains -a {app.name}` lists them")
    return domain


def domain_remove(*, app: App, name: str, actor) -> None:
    """Stops `app` answering at `name`."""
    domain = domain_get(app=app, name=name)
    with transaction.atomic():
        domain.delete()
        event_record(app=app, actor=actor, action=EventAction.DOMAIN_REMOVE, detail=domain.name)
    transaction.on_commit(lambda: wakeup("scheduler"))


def domain_certificate_set(*, app: App, name: str, certificate: str, key: str, actor) -> Domain:
    """Serves `name` over HTTPS with the user's own certificate (PEM, with its chain) and private key (PEM)."""
    domain = domain_get(app=app, name=name)
    expires_at = certificate_check(domain.name, certificate, key)
    domain.certificate, domain.certificate_key, domain.certificate_expires_at = certificate, key, expires_at
    with transaction.atomic():
        domain.save(update_fields=["certificate", "certificate_key", "certificate_expires_at"])
        event_record(app=app, actor=actor, action=EventAction.CERTIFICATE, detail=f"{domain.name}: own certificate")
    transaction.on_commit(lambda: wakeup("scheduler"))
    return domain


def domain_certificate_remove(*, app: App, name: str, actor) -> Domain:
    """Goes back to the router's own certificate for `name`."""
    domain = domain_get(app=app, name=name)
    if not domain.certificate:
        raise NotFound(f"{domain.name} has no certificate of its own; it uses the router's")
    domain.certificate = domain.certificate_key = ""
    domain.certificate_expires_at = None
    with transaction.atomic():
        domain.save(update_fields=["certificate", "certificate_key", "certificate_expires_at"])
        event_record(app=app, actor=actor, action=EventAction.CERTIFICATE, detail=f"{domain.name}: router's")
    transaction.on_commit(lambda: wakeup("scheduler"))
    return domain


def certificate_check(name: str, certificate: str, key: str) -> datetime:
    """Checks that a PEM certificate (chain) and key go together, cover `name` and are valid now; returns when the
    certificate expires. InvalidInput says what is wrong."""
    try:
        chain = x509.load_pem_x509_certificates(certificate.encode())
    except ValueError:
        raise InvalidInput("the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    try:
        private_key = serialization.load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        raise InvalidInput("the key is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)") from None
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(serialization.Encoding.PEM, public) != private_key.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ):
        raise InvalidInput("the key does not go with the certificate (the first one in the file)")
    if not any(_covers(pattern.lower(), name) for pattern in _certificate_names(leaf)):
        raise InvalidInput(f"the certificate is not for {name}: it names {', '.join(_certificate_names(leaf))}")
    now = timezone.now()
    if leaf.not_valid_after_utc <= now:
        raise InvalidInput(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise InvalidInput(f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    return leaf.not_valid_after_utc


def _certificate_names(certificate: x509.Certificate) -> list[str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        return [attribute.value for attribute in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def _covers(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    return pattern.startswith("*.") and not name.startswith("*.") and name.partition(".")[2] == pattern[2:]


def redirect_https_set(*, app: App, redirect: bool, actor) -> App:
    """Turns the app's HTTP-to-HTTPS redirect on or off."""
    app.redirect_https = redirect
    with transaction.atomic():
        app.save(update_fields=["redirect_https"])
        detail = "HTTP redirected to HTTPS" if redirect else "HTTP served as it is"
        event_record(app=app, actor=actor, action=EventAction.ROUTER, detail=detail)
    transaction.on_commit(lambda: wakeup("scheduler"))
    return app


@dataclass(frozen=True)
class DomainView:
    """One name an app answers at, as `paas domains` shows it."""

    name: str
    kind: str  # "default" (APP.PAAS_DOMAIN) or "custom"
    certificate: str  # "own" (the user's), "acme", or "internal" (the router's CA)
    expires_at: datetime | None


def domains_list(*, app: App) -> list[DomainView]:
    """The app's default name and its custom domains, with where each one's certificate comes from and when it
    expires (the router's own certificates: once it has made them)."""
    from scheduler.router import router_certificate_expiry

    default = f"{app.name}.{settings.PAAS_DOMAIN}"
    views = [DomainView(default, "default", "internal", router_certificate_expiry(default))]
    return views + [domain_view(domain) for domain in Domain.objects.filter(app=app)]


def domain_view(domain: Domain) -> DomainView:
    """One custom domain as `paas domains` shows it."""
    from scheduler.router import acme_issues_for, router_certificate_expiry

    if domain.certificate:
        return DomainView(domain.name, "custom", "own", domain.certificate_expires_at)
    issuer = "acme" if acme_issues_for(domain.name) else "internal"
    return DomainView(domain.name, "custom", issuer, router_certificate_expiry(domain.name))
