"""Artifacts: the runnable images releases are made of."""

from django.db import models

from paas.models import ImmutableModel


class ArtifactKind(models.TextChoices):
    SLUG = "slug", "Buildpack slug on the stack image"
    IMAGE = "image", "Docker image"


class Artifact(ImmutableModel):
    """An immutable, runnable Docker image; for buildpack builds, also the slug it was made from."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=10, choices=ArtifactKind.choices)
    image = models.CharField(max_length=255, help_text="Docker image reference, e.g. paas/myapp:build-3")
    image_id = models.CharField(max_length=100, help_text="The image's content id (sha256:...)")
    revision = models.CharField(max_length=64, blank=True, help_text="The git commit it was built from")
    slug_digest = models.CharField(max_length=80, blank=True)
    slug_size = models.BigIntegerField(null=True, blank=True)
    port = models.PositiveIntegerField(
        null=True, blank=True, help_text="The port its web process listens on (a Docker image's EXPOSE); else $PORT"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.image
