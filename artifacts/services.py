"""Writes on artifacts."""

import logging

from artifacts.models import Artifact, ArtifactKind

log = logging.getLogger("paas.artifacts")


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


def artifact_image_restore(*, artifact: Artifact, version: int | None = None) -> Artifact:
    """Makes `artifact`'s runtime image again from its slug, for a rollback to a release whose image is gone.

    Artifacts are immutable: the rebuilt image is a new artifact (same slug, revision and port, a new image
    reference), which the rollback's release points at. Raises Conflict, saying why, when the image cannot be
    made again: the artifact has no slug (a Docker image), or its slug is gone from the blob store too (the
    collection, artifacts.collect, removed it: PAAS_KEEP_SLUGS). `version` only names the release in that message.
    """
    import time

    from django.conf import settings

    from artifacts.blobstore import blob_copy_to
    from buildpacks.models import Build
    from buildpacks.pipeline import runtime_image_commit
    from buildpacks.services import scratch_dir, scratch_remove
    from buildpacks.stack import stack_ensure
    from hosts.engine import build_engine
    from paas.errors import Conflict, NotFound

    name = f"v{version}" if version is not None else f"artifact {artifact.pk}"
    revision = f" ({artifact.revision[:7]})" if artifact.revision else ""
    if not artifact.slug_digest:
        raise Conflict(
            f"{name}'s image {artifact.image} is no longer on any host, and it has no slug to rebuild it from; "
            f"roll back to a newer release or push that revision{revision} again"
        )
    work = scratch_dir(f"restore-{artifact.pk}-")
    try:
        slug = work / "slug.tar"
        try:
            blob_copy_to(artifact.slug_digest, slug)
        except NotFound:
            if artifact.slug_removed_at:
                why = (
                    f"were removed by the collection (PAAS_KEEP_RELEASES={settings.PAAS_KEEP_RELEASES} images, "
                    f"PAAS_KEEP_SLUGS={settings.PAAS_KEEP_SLUGS} slugs)"
                )
            else:
                why = "are no longer on any host, nor in the blob store"
            raise Conflict(
                f"{name}'s image and slug {why}; it cannot come back: push that revision{revision} again"
            ) from None
        engine = build_engine()
        stack = stack_ensure(engine, lambda text: log.info("restoring %s: %s", name, text.rstrip()))
        build_id = Build.objects.filter(release__artifact=artifact).values_list("pk", flat=True).first() or 0
        image, image_id = runtime_image_commit(
            engine, stack, artifact.app.name, f"restore-{artifact.pk}-{int(time.time())}", slug, build_id=build_id
        )
    finally:
        scratch_remove(work)
    log.info("restored the image of %s %s from its slug as %s", artifact.app.name, name, image)
    return artifact_create(
        app=artifact.app,
        image=image,
        image_id=image_id,
        revision=artifact.revision,
        slug_digest=artifact.slug_digest,
        slug_size=artifact.slug_size,
        port=artifact.port,
    )
