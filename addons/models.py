"""Backing services and storage of an app: add-ons (a PostgreSQL or Redis server the platform runs for it), their
backups, and volumes (persistent storage mounted into a process type's jobs)."""

from django.conf import settings
from django.db import models


class AddonKind(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    REDIS = "redis", "Redis"


class AddonState(models.TextChoices):
    CREATING = "creating", "Creating"
    UP = "up", "Up"
    FAILED = "failed", "Failed"


class Addon(models.Model):
    """A PostgreSQL or Redis server run for one app: a container on one host, on the app's network only, its data on
    a volume of its own; its URL is the app's config var `config_var`."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="addons")
    name = models.CharField(max_length=30, help_text="Its name within the app; its host name derives from it")
    kind = models.CharField(max_length=10, choices=AddonKind.choices)
    config_var = models.CharField(max_length=64, help_text="The config var its URL is set in (DATABASE_URL)")
    password = models.CharField(max_length=64, editable=False)
    host = models.ForeignKey("hosts.Host", on_delete=models.PROTECT, related_name="addons")
    state = models.CharField(max_length=10, choices=AddonState.choices, default=AddonState.CREATING)
    error = models.TextField(blank=True, help_text="Why it could not be made")
    image = models.CharField(max_length=100, blank=True, help_text="The add-on image its server runs (and its shell)")
    busy = models.CharField(max_length=20, blank=True, help_text="A backup or a restore under way")
    busy_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "name"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="addons_addon_unique_name"),
            models.UniqueConstraint(fields=["app", "config_var"], name="addons_addon_unique_config_var"),
        ]

    def __str__(self):
        return f"{self.app.name} {self.name} ({self.kind})"


class AddonBackup(models.Model):
    """One dump of an add-on's data (pg_dump's custom format, or Redis's RDB), kept as a blob; numbered per add-on."""

    addon = models.ForeignKey(Addon, on_delete=models.CASCADE, related_name="backups")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=80)
    size = models.BigIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["addon", "number"]
        constraints = [models.UniqueConstraint(fields=["addon", "number"], name="addons_backup_unique_number")]

    def __str__(self):
        return f"{self.addon} backup b{self.number}"


class Volume(models.Model):
    """Persistent storage of an app, mounted at `path` into the jobs of one process type. It lives on one host, where
    those jobs then run; unless `shared`, one job at a time uses it."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="volumes")
    name = models.CharField(max_length=30)
    path = models.CharField(max_length=200, help_text="Where its jobs find it (/data)")
    process_type = models.CharField(max_length=30)
    shared = models.BooleanField(default=False, help_text="Whether several jobs may use it at once")
    host = models.ForeignKey("hosts.Host", on_delete=models.PROTECT, related_name="volumes")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "name"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="addons_volume_unique_name"),
            models.UniqueConstraint(fields=["app", "process_type", "path"], name="addons_volume_unique_path"),
        ]

    def __str__(self):
        return f"{self.app.name} {self.name} at {self.path} ({self.process_type})"
