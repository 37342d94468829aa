"""Apps, their collaborators, the SSH keys and API tokens of their users, and the audit trail."""

import hashlib

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

APP_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$"
APP_NAME_RULE = (
    "3 to 30 characters: lowercase letters, digits and dashes, starting with a letter and not ending with a dash"
)

app_name_validator = RegexValidator(APP_NAME_PATTERN, f"An app name has {APP_NAME_RULE}.")


class App(models.Model):
    """A named application, owned by one user; its releases, formation and builds hang off it."""

    name = models.CharField(max_length=30, unique=True, validators=[app_name_validator])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="apps")
    created_at = models.DateTimeField(auto_now_add=True)
    redirect_https = models.BooleanField(default=False, help_text="Plain HTTP requests are redirected to HTTPS")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Domain(models.Model):
    """A host name an app answers at besides APP.PAAS_DOMAIN: exact, or a wildcard of one label (`*.example.com`).

    A name belongs to one app. Its certificate is the router's own (Caddy's internal CA, or ACME when
    PAAS_ACME_EMAIL is set), unless the user gave one: then `certificate` and `certificate_key` hold it (PEM); the
    key is never shown again.
    """

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="domains")
    name = models.CharField(max_length=253, unique=True, help_text="Lowercase, in IDNA (xn--) form")
    certificate = models.TextField(blank=True)
    certificate_key = models.TextField(blank=True)
    certificate_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AppLink(models.Model):
    """`app` may reach `target`'s jobs at their internal names (`web.TARGET.internal`): its jobs join the target's
    network too. An app reaches only its own jobs unless someone who may change both apps links them."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="links")
    target = models.ForeignKey(App, on_delete=models.CASCADE, related_name="linked_from")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "target__name"]
        constraints = [models.UniqueConstraint(fields=["app", "target"], name="apps_link_unique")]

    def __str__(self):
        return f"{self.app} -> {self.target}"


class Collaborator(models.Model):
    """A user who may see and change an app they do not own: push, scale, config, rollback, restart, read.

    Only the owner (or staff) may add or remove collaborators, and only they may destroy the app.
    """

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collaborations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["app", "user"], name="apps_collaborator_app_user_unique")]

    def __str__(self):
        return f"{self.user} on {self.app}"


TOKEN_PREFIX_LENGTH = 8


def token_key_hash(key: str) -> str:
    """The SHA-256 (hex) under which an API token's key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """An API token of a user. The key itself is never stored: only its first characters, to show it and to find
    it by, and the SHA-256 of the whole key (a random 43-character key needs no slow hash)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.key_prefix}... {self.name} ({self.user})"


class Key(models.Model):
    """An SSH public key with which its user may git push to the apps they own."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="keys")
    fingerprint = models.CharField(max_length=100, unique=True)
    public_key = models.TextField()
    comment = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.fingerprint} {self.comment}".strip()


class EventAction(models.TextChoices):
    APP_CREATE = "app.create", "App created"
    APP_DESTROY = "app.destroy", "App destroyed"
    BUILD = "build", "Build"
    RELEASE = "release", "Release"
    CONFIG = "config", "Config changed"
    SCALE = "scale", "Scaled"
    ROLLBACK = "rollback", "Rolled back"
    RESTART = "restart", "Restarted"
    DEPLOY_FAILED = "deploy.failed", "Deploy failed"
    CHECKS = "checks", "Health checks changed"
    LIMITS = "limits", "Limits changed"
    JOB_OOM = "job.oom", "Job killed: out of memory"
    JOB_CHECK_FAILED = "job.check_failed", "Job failed its health check"
    RUN = "run", "One-off run"
    RELEASE_PHASE_FAILED = "release_phase.failed", "Release phase failed"
    KEY_ADD = "key.add", "Key added"
    KEY_REMOVE = "key.remove", "Key removed"
    ACCESS_ADD = "access.add", "Collaborator added"
    ACCESS_REMOVE = "access.remove", "Collaborator removed"
    USER_CREATE = "user.create", "User created"
    TOKEN_CREATE = "token.create", "Token created"
    TOKEN_REVOKE = "token.revoke", "Token revoked"
    DOMAIN_ADD = "domain.add", "Domain added"
    DOMAIN_REMOVE = "domain.remove", "Domain removed"
    CERTIFICATE = "certificate", "Certificate changed"
    ROUTER = "router", "Router settings changed"
    LINK_ADD = "link.add", "Link added"
    LINK_REMOVE = "link.remove", "Link removed"
    CONSTRAINTS = "constraints", "Placement constraints changed"
    HOOK_ADD = "hook.add", "Deploy hook added"
    HOOK_REMOVE = "hook.remove", "Deploy hook removed"
    ADDON_CREATE = "addon.create", "Add-on created"
    ADDON_DESTROY = "addon.destroy", "Add-on destroyed"
    ADDON_BACKUP = "addon.backup", "Add-on backed up"
    ADDON_RESTORE = "addon.restore", "Add-on restored"
    VOLUME_CREATE = "volume.create", "Volume created"
    VOLUME_REMOVE = "volume.remove", "Volume removed"
    CRON_ADD = "cron.add", "Cron schedule added"
    CRON_REMOVE = "cron.remove", "Cron schedule removed"


class Event(models.Model):
    """An audit row: who did what to which app, when; written in the same transaction as the change.

    The app's name is kept beside the link, so a destroyed app's events still say which app they were about
    (and a new app of the same name does not inherit them: the link is cleared on destroy).
    """

    app = models.ForeignKey(App, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    app_name = models.CharField(max_length=30, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=EventAction.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        who = self.actor.username if self.actor else "paas"
        return f"{self.app_name or '-'} {self.action} by {who}: {self.detail}"


class HookEvent(models.TextChoices):
    """What a deploy hook can be told of."""

    DEPLOY = "deploy", "A release finished rolling out"
    BUILD_FAILED = "build_failed", "A build failed"
    CRASHED = "crashed", "A job crashed"


class Hook(models.Model):
    """A URL told of an app's deploys, failed builds and crashes: a JSON POST signed with HMAC-SHA256 of its secret
    (shown once, when it is added)."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="hooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="The HookEvent values it is told of")
    secret = models.CharField(max_length=64, help_text="The key of its signatures; never shown again")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "pk"]

    def __str__(self):
        return f"{self.app.name} hook {self.pk}: {self.url}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class HookDelivery(models.Model):
    """One event sent (or to be sent) to one hook: its body, its attempts, and what the receiver answered."""

    hook = models.ForeignKey(Hook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=HookEvent.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last answer")
    error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed")
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event} to hook {self.hook_id}: {self.state}"
