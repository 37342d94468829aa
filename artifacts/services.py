"""Writes on artifacts."""

import logging
from dataclasses import dataclass

from artifacts.models import Artifact, ArtifactKind

log = logging.getLogger("paas.artifacts")


@dataclass(frozen=True)
class Layer:
    """A dependency layer of a buildpack build: its key (a fingerprint of its files), its blob and that blob's size."""

    key: str
    digest: str
    size: int | None


def artifact_create(
    *,
    app,
    image: str,
    image_id: str,
    revision: str = "",
    slug_digest: str = "",
    slug_size=None,
    port=None,
    layer: Layer | None = None,
) -> Artifact:
    """Records an image that can run `app`'s processes; a slug digest marks a buildpack build, whose image starts
    processes through the stack's launcher; other images (Dockerfile builds, deployed images) run as they are.
    `layer` is the dependency layer under a buildpack build's slug, if its buildpacks declared one."""
    artifact = Artifact(
        app=app,
        kind=ArtifactKind.SLUG if slug_digest else ArtifactKind.IMAGE,
        image=image,
        image_id=image_id,
        revision=revision,
        slug_digest=slug_digest,
        slug_size=slug_size,
        port=port,
        layer_key=layer.key if layer else "",
        layer_digest=layer.digest if layer else "",
        layer_size=layer.size if layer else None,
    )
    artifact.full_clean()
    artifact.save()
    return artifact


def artifact_image_restore(*, artifact: Artifact, version: int | None = None) -> Artifact:
    """Makes `artifact`'s runtime image again from its slug (and dependency layer), for a rollback to a release
    whose image is gone.

    Artifacts are immutable: the rebuilt image is a new artifact (same slug, layer, revision and port, a new image
    reference), which the rollback's release points at. Raises Conflict, saying why, when the image cannot be
    made again: the artifact has no slug (a Docker image), or its slug or layer is gone from the blob store too
    (the collection, artifacts.collect, removed it: PAAS_KEEP_SLUGS). `version` only names the release in that
    message.
    """
    from buildpacks.pipeline import runtime_image_remake

    name = f"v{version}" if version is not None else f"artifact {artifact.pk}"
    _restorable_check(artifact, name)
    image, image_id = runtime_image_remake(artifact, name)
    log.info("restored the image of %s %s from its slug as %s", artifact.app.name, name, image)
    layer = Layer(artifact.layer_key, artifact.layer_digest, artifact.layer_size) if artifact.layer_digest else None
    return artifact_create(
        app=artifact.app,
        image=image,
        image_id=image_id,
        revision=artifact.revision,
        slug_digest=artifact.slug_digest,
        slug_size=artifact.slug_size,
        port=artifact.port,
        layer=layer,
    )


def _restorable_check(artifact: Artifact, name: str) -> None:
    """Raises Conflict, saying why, unless the blobs `artifact`'s image is made from are all stored."""
    from django.conf import settings

    from artifacts.blobstore import blob_exists
    from paas.errors import Conflict

    revision = f" ({artifact.revision[:7]})" if artifact.revision else ""
    if not artifact.slug_digest:
        raise Conflict(
            f"{name}'s image {artifact.image} is no longer on any host, and it has no slug to rebuild it from; "
            f"roll back to a newer release or push that revision{revision} again"
        )
    if all(blob_exists(digest) for digest in (artifact.slug_digest, artifact.layer_digest) if digest):
        return
    if artifact.slug_removed_at:
        why = (
            f"were removed by the collection (PAAS_KEEP_RELEASES={settings.PAAS_KEEP_RELEASES} images, "
            f"PAAS_KEEP_SLUGS={settings.PAAS_KEEP_SLUGS} slugs)"
        )
    else:
        why = "are no longer on any host, nor in the blob store"
    raise Conflict(f"{name}'s image and slug {why}; it cannot come back: push that revision{revision} again")
