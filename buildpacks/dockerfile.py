"""Dockerfile builds: a pushed repository with a Dockerfile at its root is built with it, by the Docker engine.

No image registry is reachable, so nothing is pulled: a Dockerfile builds FROM an image the engine has, such as
the platform's stack image, offered under the stable name `paas/stack` (`FROM paas/stack`). The image's CMD is
the web process unless the Procfile says otherwise; an EXPOSEd port is where the router sends its traffic.
"""

import re
import tarfile
from pathlib import Path

from django.conf import settings

from artifacts.models import Artifact
from artifacts.services import artifact_create
from buildpacks.images import exposed_port, image_reference_allowed
from buildpacks.procfile import procfile_parse
from buildpacks.stack import REPOSITORY as STACK_REPOSITORY
from buildpacks.stack import stack_ensure
from hosts.engine import ImageBuildError
from paas.errors import PaasError
from paas.terminal import indented

DOCKERFILE = "Dockerfile"
STACK_ALIAS_TAG = "latest"  # `FROM paas/stack` is `paas/stack:latest`: the current stack image
TEXT_MAX_BYTES = 256 * 1024
_COPY_FROM = re.compile(r"--from=(\S+)", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


class DockerfileFailed(PaasError):
    """A Dockerfile build did not succeed; the message says why and what to do."""


def source_text(source: Path, name: str) -> str | None:
    """A file at the root of a pushed source tarball, as text; None when it has none."""
    with tarfile.open(source) as tar:
        for candidate in (name, f"./{name}"):
            try:
                member = tar.getmember(candidate)
            except KeyError:
                continue
            if member.isfile():
                return tar.extractfile(member).read(TEXT_MAX_BYTES).decode("utf-8", errors="replace")
    return None


def dockerfile_artifact(engine, build, source: Path, dockerfile: str, output) -> tuple[Artifact, dict]:
    """Builds the pushed source with its Dockerfile; returns the artifact and the process types."""
    output("-----> Dockerfile found: building it\n")
    stack = stack_ensure(engine, output)
    engine.image_tag(stack, STACK_REPOSITORY, STACK_ALIAS_TAG)
    _bases_present(engine, dockerfile)
    tag = f"paas-app/{build.app.name}:{settings.PAAS_INSTANCE}-build-{build.pk}"
    labels = {"paas.app": build.app.name, "paas.source-build": str(build.pk)}
    try:
        image_id = engine.image_build(
            source, tag, labels, lambda text: output(indented(text)), timeout=settings.PAAS_BUILD_TIMEOUT
        )
    except ImageBuildError as error:
        raise DockerfileFailed(f"The Dockerfile build failed: {error}") from error
    config = engine.image_config(tag)
    processes = {"web": ""} if config.get("Cmd") or config.get("Entrypoint") else {}
    processes.update(procfile_parse(source_text(source, "Procfile") or ""))
    port = exposed_port(config)
    output(f"       Web process listens on port {port}\n" if port else "       Web process listens on $PORT\n")
    artifact = artifact_create(app=build.app, image=tag, image_id=image_id, revision=build.revision, port=port)
    return artifact, processes


def _bases_present(engine, dockerfile: str) -> None:
    """Fails early, and clearly, when the Dockerfile builds FROM (or copies --from) an image the engine does not
    have, or one a user may not name: an image this platform made for an app (another app's code) or a bare id."""
    stages = set()
    for base in (*(base for base, _ in _FROM.findall(dockerfile)), *_COPY_FROM.findall(dockerfile)):
        if base.lower() not in stages and not base.isdigit() and not image_reference_allowed(base, stack=True):
            raise DockerfileFailed(
                f"The Dockerfile names {base}: an image this platform made for an app, or an image id, which a "
                f"Dockerfile may not use. Build FROM {STACK_REPOSITORY}, or from an image by its own name"
            )
    for base, alias in _FROM.findall(dockerfile):
        if base.lower() not in stages and base.lower() != "scratch" and "$" not in base:
            reference = base if ":" in base.rsplit("/", 1)[-1] or "@" in base else f"{base}:latest"
            if not engine.image_id(reference):
                raise DockerfileFailed(
                    f"The Dockerfile builds FROM {base}, which this platform's Docker engine does not have, and no "
                    f"image registry is reachable from here. Build FROM {STACK_REPOSITORY} (the platform's stack "
                    "image: Debian 12 with Python, Node.js and build tools), or have the operator load that image "
                    "into the engine (docker load)"
                )
        if alias:
            stages.add(alias.lower())
