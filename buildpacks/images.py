"""Image deploys: releasing a Docker image the engine has, or one uploaded as a `docker save` archive."""

import re
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.models import App
from artifacts.services import artifact_create
from buildpacks.dockerfile import exposed_port
from buildpacks.services import scratch_dir, scratch_remove, size_text
from formations.services import formation_deploy
from hosts.engine import build_engine
from paas.errors import InvalidInput
from releases.models import Release
from releases.services import release_create

# A Docker image reference: [registry/]name[:tag][@digest], or an image id.
_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,254}(@sha256:[0-9a-f]{64})?$|^(sha256:)?[0-9a-f]{12,64}$")
_CHUNK = 1024 * 1024


def image_deploy(*, app: App, actor, reference: str) -> Release:
    """Releases an image the engine has, named as the app's, and rolls it out as a push is. The image's CMD (or
    ENTRYPOINT) is the web process; an EXPOSEd port is where it listens, else $PORT."""
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise InvalidInput(f"{reference!r} is not a Docker image reference (such as myimage:1.0)")
    engine = build_engine()
    image_id = engine.image_id(reference)
    if image_id is None:
        raise InvalidInput(
            f"the platform's Docker engine has no image {reference}, and no registry is reachable to pull it; "
            "upload it with: docker save IMAGE | paas deploy-image -"
        )
    config = engine.image_config(reference)
    if not config.get("Cmd") and not config.get("Entrypoint"):
        raise InvalidInput(f"{reference} has no CMD or ENTRYPOINT: nothing to run as the web process")
    tag = f"{settings.PAAS_INSTANCE}-image-{secrets.token_hex(4)}"
    engine.image_tag(reference, f"paas-app/{app.name}", tag)
    with transaction.atomic():
        artifact = artifact_create(
            app=app, image=f"paas-app/{app.name}:{tag}", image_id=image_id, port=exposed_port(config)
        )
        release = release_create(
            app=app, artifact=artifact, processes={"web": ""}, actor=actor, description=f"Deploy image {reference}"
        )
        formation_deploy(app=app, release=release, actor=actor)
    return release


def image_upload_deploy(*, app: App, actor, stream, length: int | None) -> Release:
    """Loads a `docker save` archive read from `stream` (at most PAAS_IMAGE_MAX_BYTES) and releases its image."""
    limit = settings.PAAS_IMAGE_MAX_BYTES
    if length is not None and length > limit:
        raise InvalidInput(_too_large(limit))
    work = scratch_dir("image-")
    try:
        archive = _received(stream, work / "image.tar", limit)
        try:
            loaded = build_engine().image_load(archive)
        except Exception as error:
            raise InvalidInput(
                f"this is not an image archive the engine can load (docker save IMAGE): {error}"
            ) from error
        if len(loaded) != 1:
            raise InvalidInput(f"the archive holds {len(loaded)} images; save exactly one (docker save IMAGE)")
        return image_deploy(app=app, actor=actor, reference=loaded[0])
    finally:
        scratch_remove(work)


def _received(stream, target: Path, limit: int) -> Path:
    size = 0
    with open(target, "wb") as archive:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise InvalidInput(_too_large(limit))
            archive.write(chunk)
    if not size:
        raise InvalidInput("no image came; pipe one in: docker save IMAGE | paas deploy-image -")
    return target


def _too_large(limit: int) -> str:
    return (
        f"the image is larger than {size_text(limit)}, the most this platform takes (PAAS_IMAGE_MAX_BYTES); "
        "make it smaller, or ask the operator to raise PAAS_IMAGE_MAX_BYTES"
    )
