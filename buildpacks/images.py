"""Image deploys: releasing a Docker image the engine has, or one uploaded as a `docker save` archive."""

import io
import json
import re
import secrets
import tarfile
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.models import App
from artifacts.services import artifact_create
from buildpacks.services import scratch_dir, scratch_remove, size_text
from buildpacks.stack import REPOSITORY as STACK_REPOSITORY
from formations.services import formation_deploy
from hosts.engine import build_engine
from paas.errors import InvalidInput
from releases.models import Release
from releases.services import release_create

# A Docker image reference: [registry/]name[:tag][@digest], or an image id.
_REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,254}(@sha256:[0-9a-f]{64})?$|^(sha256:)?[0-9a-f]{12,64}$")
_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")
PLATFORM_REPOSITORIES = ("paas-app/", "paas/")  # apps' runtime images and uploads, the stack
_CHUNK = 1024 * 1024
_MANIFEST_MAX = 1024 * 1024


def image_deploy(*, app: App, actor, reference: str, uploaded: bool = False) -> Release:
    """Releases an image the engine has, named as the app's, and rolls it out as a push is. The image's CMD (or
    ENTRYPOINT) is the web process; an EXPOSEd port is where it listens, else $PORT.

    Images the platform made (other apps' builds and uploads, the stack) and bare image ids are not a user's to
    name: they could be another app's code. An upload is deployed by the id it loaded as (`uploaded`).
    """
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise InvalidInput(f"{reference!r} is not a Docker image reference (such as myimage:1.0)")
    if not uploaded and not image_reference_allowed(reference):
        raise InvalidInput(
            f"{reference} is an image this platform made or an image id; deploy an image by its own name, "
            "or upload it: docker save IMAGE | paas deploy-image -"
        )
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
        archive = _untagged(_received(stream, work / "received.tar", limit), work / "image.tar")
        try:
            loaded = build_engine().image_load(archive)
        except Exception as error:
            raise InvalidInput(
                f"this is not an image archive the engine can load (docker save IMAGE): {error}"
            ) from error
        if len(loaded) != 1:
            raise InvalidInput(f"the archive holds {len(loaded)} images; save exactly one (docker save IMAGE)")
        return image_deploy(app=app, actor=actor, reference=loaded[0], uploaded=True)
    finally:
        scratch_remove(work)


def exposed_port(config: dict) -> int | None:
    """The TCP port an image EXPOSEs, when it EXPOSEs one (the lowest, when several)."""
    ports = sorted(int(port.split("/")[0]) for port in (config.get("ExposedPorts") or {}) if port.endswith("/tcp"))
    return ports[0] if ports else None


def image_reference_allowed(reference: str, *, stack: bool = False) -> bool:
    """Whether a user may name this image (to deploy it, or with `stack`, to build FROM it, which the stack image
    is for): not one the platform made for an app, which may hold another app's code, nor a bare id."""
    if stack and (reference == STACK_REPOSITORY or reference.startswith(f"{STACK_REPOSITORY}:")):
        return True
    return not (_IMAGE_ID.match(reference) or reference.startswith(PLATFORM_REPOSITORIES))


def _untagged(received: Path, target: Path) -> Path:
    """The archive without the names it would give its images (manifest.json's RepoTags, the `repositories` file):
    loading it must not move a tag the engine already has, such as another app's image or the stack."""
    images = 0
    try:
        with tarfile.open(received) as source, tarfile.open(target, "w") as copy:
            for member in source:
                name = member.name.removeprefix("./")
                if name == "repositories":
                    continue
                data = source.extractfile(member) if member.isfile() else None
                if name == "manifest.json" and data is not None:
                    manifest = json.loads(data.read(_MANIFEST_MAX))
                    entries = manifest if isinstance(manifest, list) else []
                    images = len(entries)
                    for entry in entries:
                        entry["RepoTags"] = None
                    payload = json.dumps(manifest).encode()
                    member.size, data = len(payload), io.BytesIO(payload)
                copy.addfile(member, data)
    except (tarfile.TarError, ValueError, AttributeError, TypeError) as error:
        raise InvalidInput(f"this is not an image archive the engine can load (docker save IMAGE): {error}") from error
    if images != 1:
        raise InvalidInput(f"the archive holds {images} images; save exactly one (docker save IMAGE)")
    return target


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
