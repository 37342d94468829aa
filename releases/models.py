"""Releases: immutable, numbered combinations of an artifact, config and process types."""

from django.conf import settings
from django.db import models

from paas.models import ImmutableModel


class Release(ImmutableModel):
    """An app's artifact + config + process types, numbered v1, v2, ... and never changed once saved."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="releases")
    version = models.PositiveIntegerField()
    artifact = models.ForeignKey(
        "artifacts.Artifact", on_delete=models.PROTECT, related_name="releases", null=True, blank=True
    )
    config = models.JSONField(default=dict, blank=True, help_text="Environment variables")
    processes = models.JSONField(default=dict, blank=True, help_text="Process type -> command")
    checks = models.JSONField(
        default=dict, blank=True, help_text='Process type -> HTTP health check {"path", "timeout", "passes"}'
    )
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["app", "-version"]
        constraints = [models.UniqueConstraint(fields=["app", "version"], name="release_version_unique")]

    def __str__(self):
        return f"{self.app.name} v{self.version}"
