"""Builds: one run of the build pipeline for one pushed commit."""

from django.conf import settings
from django.db import models


class BuildState(models.TextChoices):
    PENDING = "pending", "Pending"
    BUILDING = "building", "Building"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINAL_STATES = (BuildState.SUCCEEDED, BuildState.FAILED)


class Build(models.Model):
    """One build of one pushed commit: its log, its outcome, and the release it made."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="builds")
    revision = models.CharField(max_length=64)
    source_digest = models.CharField(max_length=80)
    state = models.CharField(max_length=10, choices=BuildState.choices, default=BuildState.PENDING)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    release = models.ForeignKey("releases.Release", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.app.name} build {self.pk} ({self.state})"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
