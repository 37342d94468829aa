"""Dependency layers: what buildpacks install (a virtualenv, node_modules), kept apart from the app's code.

A buildpack declares a top-level directory of the app as a dependency layer by writing its name as a line of the
file `$PAAS_LAYERS_FILE`. After the buildpacks, the builder leaves those directories in /app, moves the rest (the
code) to SLUG_DIR, and writes LAYER_DIR/key: a fingerprint of the layer's files (names, types, sizes, modes, times,
link targets), so that anything that changes them changes the key.

The runtime image is then the stack, the layer image (the stack plus the layer, committed once per key and stack),
and the slug (the code) on top: a push whose dependencies did not change stores and commits only its code. Its build
even starts from the app's last layer image (`layer_seed`), so that buildpacks find their dependencies in place
instead of copying them out of their cache. The layer is stored once in the blob store, beside the slug, so that
its image can be made again (a rollback after the collection, another host).
"""

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from artifacts.blobstore import blob_exists, blob_path, blob_put_file
from artifacts.models import Artifact
from artifacts.services import Layer
from buildpacks.services import size_text
from hosts.engine import LAYER_DIR
from paas.errors import PaasError

KEY_MAX_BYTES = 4096
SLUG_DIR = f"{LAYER_DIR}/slug/app"  # where the builder moves the code when the build has a dependency layer
LABEL_NAMES = "paas.layer.names"  # a layer image's label: its directories in /app


class LayerTooLarge(PaasError):
    """The dependency layer is larger than the platform stores."""


def layer_take(container, app, work: Path, output) -> Layer | None:
    """The dependency layer the build's buildpacks declared, or None: one the app already has with the same key is
    reused as it is; a new one is copied out of the build container into the blob store."""
    key = _layer_key(container)
    if not key:
        return None
    known = _layer_known(app, key)
    if known:
        output(f"-----> Reusing the dependency layer ({size_text(known.size or 0)}: dependencies unchanged)\n")
        return known
    archive = work / "layer.tar"
    if not container.get_archive("/app", archive, max_bytes=settings.PAAS_SLUG_MAX_BYTES):  # the code left it
        limit = size_text(settings.PAAS_SLUG_MAX_BYTES)
        raise LayerTooLarge(
            f"Build failed: the installed dependencies are larger than {limit}, the most this platform stores "
            "(PAAS_SLUG_MAX_BYTES); depend on less, or ask the operator to raise PAAS_SLUG_MAX_BYTES"
        )
    digest, size = blob_put_file(archive)
    output(f"-----> Storing the dependency layer ({size_text(size)}) for the next pushes\n")
    return Layer(key=key, digest=digest, size=size)


def _layer_key(container) -> str:
    """The key the builder wrote, or "" when no buildpack declared a layer."""
    key = (container.read_text(f"{LAYER_DIR}/key", max_bytes=KEY_MAX_BYTES) or "").strip()
    return key if len(key) == 64 and all(c in "0123456789abcdef" for c in key) else ""


def _layer_known(app, key: str) -> Layer | None:
    """A layer of `app` with this key whose blob is still stored."""
    rows = Artifact.objects.filter(app=app, layer_key=key, slug_removed_at__isnull=True).exclude(layer_digest="")
    for digest, size in rows.values_list("layer_digest", "layer_size"):
        if blob_exists(digest):
            return Layer(key=key, digest=digest, size=size)
    return None


def layer_image_reference(stack_id: str, app_name: str, key: str) -> str:
    """The name of the layer image of `key` on the stack image of id `stack_id`: `paas-app/APP:INSTANCE-layer-HASH`."""
    name = hashlib.sha256(f"{key} {stack_id}".encode()).hexdigest()[:16]
    return f"paas-app/{app_name}:{settings.PAAS_INSTANCE}-layer-{name}"


def layer_images(app, engine) -> set[str]:
    """The names of `app`'s dependency layer images on the current stack (those on an older one go with the
    collection)."""
    from buildpacks.stack import stack_image

    keys = set(Artifact.objects.filter(app=app).exclude(layer_key="").values_list("layer_key", flat=True))
    if not keys:
        return set()
    stack_id = engine.image_id(stack_image()) or stack_image()
    return {layer_image_reference(stack_id, app.name, key) for key in keys}


def layer_image_ensure(engine, stack: str, app_name: str, layer: Layer, *, build_id: int) -> str:
    """The layer image of `layer` on `stack`, committed from its blob when the engine does not have it. Its labels
    name its key and its directories (LABEL_NAMES), for the builds it seeds."""
    from buildpacks.pipeline import image_conf  # the pipeline imports this module

    reference = layer_image_reference(engine.image_id(stack) or stack, app_name, layer.key)
    if engine.image_id(reference):
        return reference
    repository, _, tag = reference.rpartition(":")
    archive = blob_path(layer.digest)
    conf = image_conf(app_name, build_id, layer=layer.key)
    conf["Labels"][LABEL_NAMES] = " ".join(_top_level_names(archive))
    with engine.container(stack, command=["/bin/true"], env={}, binds={}, build_id=build_id) as container:
        container.put_archive("/", archive)
        container.commit(repository, tag, conf)
    return reference


def _top_level_names(archive: Path, under: str = "app/") -> list[str]:
    """The names of the entries right under `under` in a tar file (read header by header, never whole)."""
    names = set()
    with tarfile.open(archive) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name.startswith(under) and name != under:
                names.add(name.removeprefix(under).split("/", 1)[0])
    return sorted(names)


@dataclass(frozen=True)
class LayerSeed:
    """The layer image a build starts from (the app's last dependency layer, in place in /app) and its
    directories."""

    image: str
    names: tuple[str, ...]


def layer_seed(engine, stack: str, app, source: Path) -> LayerSeed | None:
    """The app's last dependency layer, if the engine has its image on `stack`: its buildpacks may reuse it where
    it is, instead of copying their cache into /app. None when the pushed source has a file or directory of the
    same name as one of the layer's (a committed virtualenv, say): the source alone decides then."""
    last = Artifact.objects.filter(app=app).order_by("-created_at", "-pk").first()
    if last is None or not last.layer_key:  # the last build had none: it starts from the stack, as that one did
        return None
    reference = layer_image_reference(engine.image_id(stack) or stack, app.name, last.layer_key)
    if not engine.image_id(reference):
        return None
    names = tuple((engine.image_config(reference).get("Labels") or {}).get(LABEL_NAMES, "").split())
    if not names or set(names) & set(_top_level_names(source, under="")):
        return None
    return LayerSeed(image=reference, names=names)
