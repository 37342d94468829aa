"""Writes on artifacts."""

from artifacts.models import Artifact, ArtifactKind


def artifact_create(
    *, app, image: str, image_id: str, revision: str = "", slug_digest: str = "", slug_size=None, port=None
) -> Artifact:
    """Records an image that can run `app`'s processes; a slug digest marks a buildpack build, whose image starts
    processes through the stack's launcher; other images (Dockerfile builds, deployed images) run as they are."""
    artifact = Artifact(
        app=app,
        kind=ArtifactKind.SLUG if slug_digest else ArtifactKind.IMAGE,
        image=image,
        image_id=image_id,
        revision=revision,
        slug_digest=slug_digest,
        slug_size=slug_size,
        port=port,
    )
    artifact.full_clean()
    artifact.save()
    return artifact
