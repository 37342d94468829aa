"""Artifacts: the runnable images releases are made of."""

from django.db import models

from paas.models import ImmutableModel, ImmutableQuerySet


class ArtifactKind(models.TextChoices):
    SLUG = "slug", "Buildpack slug on the stack image"
    IMAGE = "image", "Docker image"


class ArtifactQuerySet(ImmutableQuerySet):
    """Artifacts never change, but for two facts about them: when the collection removed their image, and their
    slug."""

    def blobs_used(self, digests) -> set[str]:
        """The digests among `digests` that these artifacts use, as their slug or their dependency layer."""
        digests = set(digests)
        slugs = self.filter(slug_digest__in=digests).values_list("slug_digest", flat=True)
        layers = self.filter(layer_digest__in=digests).values_list("layer_digest", flat=True)
        return set(slugs) | set(layers)

    def mark_image_removed(self, when) -> int:
        """Records that these artifacts' runtime images were removed from every host at `when`."""
        return models.QuerySet.update(self, image_removed_at=when)

    def mark_slug_removed(self, when) -> int:
        """Records that these artifacts' slugs and dependency layers were let go at `when` (a blob goes once no
        other artifact has it)."""
        return models.QuerySet.update(self, slug_removed_at=when)


class Artifact(ImmutableModel):
    """An immutable, runnable Docker image; for buildpack builds, also the slug it was made from.

    A buildpack build's image is the stack, then its dependency layer if its buildpacks declared one (a layer image
    shared by the app's builds whose dependencies did not change: see buildpacks.layers), then the slug (the code).
    The slug and the layer are both kept in the blob store, so that the image can be made again.

    `image_removed_at` and `slug_removed_at` are not part of what the artifact is: they record that the collection
    (artifacts.collect) removed its image from the hosts, and its slug (unless another artifact shares it).
    """

    objects = ArtifactQuerySet.as_manager()

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=10, choices=ArtifactKind.choices)
    image = models.CharField(max_length=255, help_text="Docker image reference, e.g. paas/myapp:build-3")
    image_id = models.CharField(max_length=100, help_text="The image's content id (sha256:...)")
    revision = models.CharField(max_length=64, blank=True, help_text="The git commit it was built from")
    slug_digest = models.CharField(max_length=80, blank=True)
    slug_size = models.BigIntegerField(null=True, blank=True)
    layer_key = models.CharField(
        max_length=64, blank=True, help_text="The fingerprint of its dependency layer (a virtualenv, node_modules)"
    )
    layer_digest = models.CharField(max_length=80, blank=True, help_text="The blob of its dependency layer")
    layer_size = models.BigIntegerField(null=True, blank=True)
    port = models.PositiveIntegerField(
        null=True, blank=True, help_text="The port its web process listens on (a Docker image's EXPOSE); else $PORT"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    image_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the collection removed its runtime image from the hosts"
    )
    slug_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the collection removed its slug (kept while another artifact shares it)"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.image
