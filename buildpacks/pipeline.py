"""The build pipeline: pushed source -> slug (buildpacks, in a stack container) -> runtime image -> release.

A failed build raises BuildFailed with a message for the pusher; it changes nothing that runs.
"""

import json
import logging
import re
import shutil
import tarfile
import threading
import time
from pathlib import Path

from django.conf import settings

from artifacts.blobstore import blob_copy_to, blob_fetch, blob_path, blob_put_file
from artifacts.services import Layer, artifact_create
from buildpacks.dockerfile import DOCKERFILE, dockerfile_artifact, source_text
from buildpacks.layers import SLUG_DIR, layer_image_ensure, layer_seed, layer_take
from buildpacks.models import Build
from buildpacks.procfile import procfile_parse, release_default_processes
from buildpacks.services import (
    BuildLogBuffer,
    blobs_release_unused,
    build_fail,
    build_succeed,
    cache_volume_name,
    scratch_dir,
    scratch_remove,
    size_text,
)
from buildpacks.stack import RUNTIME_PATH, stack_ensure
from hosts.engine import LAYER_DIR, build_engine, tar_of_directory
from paas.errors import PaasError
from releases.selectors import config_current
from scheduler.cron import APP_JSON, app_json_crons

log = logging.getLogger("paas.builds")

BUILTIN_BUILDPACKS = Path(__file__).parent / "builtin"
BUILDER = Path(__file__).parent / "scripts" / "builder"
CONTAINER_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PROCESS_FILE_MAX_BYTES = 256 * 1024  # of a slug's Procfile or .release, read into memory


class BuildFailed(PaasError):
    """The app's build did not succeed; the message says why."""


def build_execute(build: Build) -> None:
    """Builds one pushed commit into an artifact, then releases and deploys it; records the outcome on the build.

    The log is complete before the outcome is recorded: whoever sees the outcome has seen the whole log.
    """
    work = scratch_dir(f"build-{build.pk}-")
    slugs: list[str] = []  # the digests of the slugs this build stored
    try:
        with BuildLogBuffer(build) as log_buffer:
            made, error = _build_guarded(build, lambda: _build_artifact(build, work, log_buffer.write, slugs))
    finally:
        scratch_remove(work)
    if made is not None:
        artifact, processes, crons = made
        _, error = _build_guarded(
            build, lambda: build_succeed(build=build, artifact=artifact, processes=processes, crons=crons)
        )
    if error:
        build_fail(build=build, error=error, slug_digests=slugs)
    else:
        _build_guarded(build, lambda: blobs_release_unused(digests={build.source_digest}))  # it has served


def _build_guarded(build: Build, step):
    """Runs a step of the build; returns its result and "", or None and why the build failed."""
    try:
        return step(), ""
    except PaasError as error:
        return None, str(error)
    except Exception:  # its text may hold paths, addresses or secrets: it goes to the platform's log only
        log.exception("build %s failed", build.pk)
        return None, f"internal error while building; the platform's log has the details (build {build.pk})"


def _build_artifact(build: Build, work: Path, output, slugs: list[str]):
    """Source -> a Dockerfile build, or buildpacks (slug -> runtime image): the artifact, its process types and the
    cron entries of its app.json. `slugs` gets the digest of the slug a buildpack build stores."""
    output(f"-----> Building {build.app.name} from {build.revision[:7]}\n")
    engine = build_engine()
    source = blob_path(build.source_digest)  # read only: the build works on copies
    crons = _app_json_crons(build, source, output)
    dockerfile = source_text(source, DOCKERFILE)
    if dockerfile is not None:
        artifact, processes = dockerfile_artifact(engine, build, source, dockerfile, output)
        _announce_processes(processes, output)
        return artifact, processes, crons
    stack = stack_ensure(engine, output)
    slug, layer = _compile(engine, stack, build, work, output, slugs)
    processes = _slug_processes(slug)
    _announce_processes(processes, output)
    return _runtime_artifact(engine, stack, build, slug, layer, output, slugs), processes, crons


def _app_json_crons(build: Build, source: Path, output) -> list:
    """The cron entries of the source's app.json, checked before anything is built (scheduler.cron)."""
    crons = app_json_crons(app=build.app, text=source_text(source, APP_JSON))
    if crons:
        output(f"-----> app.json declares {len(crons)} cron schedule{'s' if len(crons) != 1 else ''}\n")
        output("".join(f"       {entry.schedule}  {entry.command}\n" for entry in crons))
    return crons


def _announce_processes(processes: dict, output) -> None:
    output(f"       Procfile declares types -> {', '.join(sorted(processes)) or '(none)'}\n")
    if "web" not in processes:
        output(
            " !     No web process: nothing will answer HTTP. Add a Procfile line such as\n"
            " !     web: gunicorn --bind 0.0.0.0:$PORT app:app\n"
        )


# The built-in buildpacks, in the order their bin/detect runs: (directory, what it looks for, what it is).
_BUILTIN_ORDER = (
    ("python", "requirements.txt, pyproject.toml, setup.py", "Python"),
    ("nodejs", "package.json", "Node.js"),
    ("go", "go.mod", "Go"),
    ("static", "index.html or public/index.html", "static"),
    ("procfile", "a Procfile", "any other app"),
)
# The builder's exit statuses that mean something other than "a buildpack failed".
_NOTHING_RECOGNISED = 100
_BUILDPACK_UNUSABLE = 101
_CONFIG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _build_env() -> tuple[dict, dict]:
    env = {
        "STACK": "paas-bookworm",
        "PATH": RUNTIME_PATH,
        "LANG": "C.UTF-8",
        "HOME": "/app",
        "PAAS_LAYERS_FILE": f"{LAYER_DIR}/declared",  # buildpacks declare dependency layers there (see layers)
    }
    binds = {}
    bundle = settings.PAAS_BUILD_CA_BUNDLE
    if bundle and Path(bundle).is_file():
        binds[bundle] = {"bind": CONTAINER_CA_BUNDLE, "mode": "ro"}
        env.update(
            SSL_CERT_FILE=CONTAINER_CA_BUNDLE,
            PIP_CERT=CONTAINER_CA_BUNDLE,
            REQUESTS_CA_BUNDLE=CONTAINER_CA_BUNDLE,
            NODE_EXTRA_CA_CERTS=CONTAINER_CA_BUNDLE,
            npm_config_cafile=CONTAINER_CA_BUNDLE,
            GIT_SSL_CAINFO=CONTAINER_CA_BUNDLE,
        )
    return env, binds


def _compile(engine, stack: str, build: Build, work: Path, output, slugs: list[str]) -> tuple[Path, Layer | None]:
    """Runs detect, compile and release on the source in a stack container (or one of the app's last dependency
    layer, in place: see buildpacks.layers); returns the slug tarball and the dependency layer the buildpacks
    declared, if any (stored now if it is new: `slugs` gets its digest)."""
    source = work / "source.tar"
    blob_copy_to(build.source_digest, source)
    env, binds = _build_env()
    binds[cache_volume_name(build.app.name)] = {"bind": "/cache", "mode": "rw"}
    seed = layer_seed(engine, stack, build.app, source)
    if seed:
        env["PAAS_LAYERS_SEEDED"] = " ".join(seed.names)
    with engine.container(
        seed.image if seed else stack,
        command=["/bin/bash", "/paas-build/builder"],
        env=env,
        binds=binds,
        build_id=build.pk,
        handover=("/app", "/cache"),  # the source goes in as root; the build runs as the app user
    ) as container:
        container.put_archive("/app", source)
        container.put_archive("/", _build_kit(work, config_current(app=build.app)))
        status = container.run(output, timeout=settings.PAAS_BUILD_TIMEOUT)
        if container.timed_out:
            raise BuildFailed(f"Build timed out after {settings.PAAS_BUILD_TIMEOUT:.0f}s and was stopped")
        if status != 0:
            raise BuildFailed(_build_failure(status))
        return _compiled(container, build, work, output, slugs)


def _compiled(container, build: Build, work: Path, output, slugs: list[str]) -> tuple[Path, Layer | None]:
    """The slug and the dependency layer out of a build container whose build succeeded."""
    layer = layer_take(container, build.app, work, output)
    if layer and layer.digest not in slugs:
        slugs.append(layer.digest)  # removed again if the build fails and nothing else uses it
    slug = work / "slug.tar"
    room = settings.PAAS_SLUG_MAX_BYTES - ((layer.size or 0) if layer else 0)  # the limit is of both together
    if room <= 0 or not container.get_archive(SLUG_DIR if layer else "/app", slug, max_bytes=room):
        limit = size_text(settings.PAAS_SLUG_MAX_BYTES)
        with_layer = " with its dependencies" if layer else ""
        raise BuildFailed(
            f"Build failed: the slug{with_layer} is larger than {limit}, the most this platform stores "
            "(PAAS_SLUG_MAX_BYTES); make the app smaller, or ask the operator to raise PAAS_SLUG_MAX_BYTES"
        )
    return slug, layer


def _build_failure(status: int) -> str:
    """What the pusher is told when the builder exits with `status` (not 0)."""
    if status == _NOTHING_RECOGNISED:
        looked_for = "; ".join(f"{manifest} ({kind})" for _, manifest, kind in _BUILTIN_ORDER)
        return (
            f"No buildpack recognised this app. Looked for: {looked_for}. "
            "Add one of these at the top of the repository, or name a buildpack in .buildpacks or BUILDPACK_URL"
        )
    if status == _BUILDPACK_UNUSABLE:
        return "Build failed: a buildpack named in BUILDPACK_URL or .buildpacks could not be used; see the output above"
    return f"Build failed: the buildpack exited with status {status}; see the output above"


def _build_kit(work: Path, config: dict | None = None) -> Path:
    """The builder script, the built-in buildpacks, their detect order and the app's config vars (one file per
    var in env/, the buildpacks' ENV_DIR), as a tar file (in `work`) placed at /paas-build."""
    root = work / "kit" / "paas-build"
    shutil.copytree(BUILTIN_BUILDPACKS, root / "buildpacks")
    shutil.copyfile(BUILDER, root / "builder")
    (root / "order").write_text("".join(f"{name}\n" for name, _, _ in _BUILTIN_ORDER))
    _write_env_dir(root / "env", config or {})
    return tar_of_directory(root, "paas-build", work / "kit.tar", executable=True)


def _write_env_dir(directory: Path, config: dict) -> None:
    """Writes `config` as Heroku's ENV_DIR: one file per var, named after it, holding its value (no newline)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in config.items():
        if _CONFIG_NAME.match(name):  # a name that cannot be an environment variable cannot be a file name either
            (directory / name).write_text(str(value))


def _slug_processes(slug: Path) -> dict[str, str]:
    """Process types: the buildpack's defaults, overridden by the Procfile."""
    with tarfile.open(slug) as tar:
        release_text = _member_text(tar, "app/.release")
        procfile_text = _member_text(tar, "app/Procfile")
    processes = release_default_processes(release_text)
    processes.update(procfile_parse(procfile_text))
    return processes


def _member_text(tar: tarfile.TarFile, name: str) -> str:
    try:
        member = tar.extractfile(name)
    except KeyError:
        return ""
    return member.read(PROCESS_FILE_MAX_BYTES).decode("utf-8", errors="replace") if member else ""


def _runtime_artifact(engine, stack: str, build: Build, slug: Path, layer: Layer | None, output, slugs: list[str]):
    """The stack image, the dependency layer and the slug at /app, committed as the runtime image; `slugs` gets the
    slug's digest."""
    output("-----> Storing the slug\n")
    digest, size = blob_put_file(slug)
    slugs.append(digest)
    dependencies = f", on a dependency layer of {size_text(layer.size or 0)}" if layer else ""
    output(f"       Slug is {size_text(size)}{dependencies}\n")
    base = layer_image_ensure(engine, stack, build.app.name, layer, build_id=build.pk) if layer else stack
    image, image_id = runtime_image_commit(engine, base, build.app.name, f"build-{build.pk}", slug, build_id=build.pk)
    return artifact_create(
        app=build.app,
        image=image,
        image_id=image_id,
        revision=build.revision,
        slug_digest=digest,
        slug_size=size,
        layer=layer,
    )


def image_conf(app_name: str, build_id: int, *, layer: str = "") -> dict:
    """The configuration of a runtime image (or of a layer image, which names its key)."""
    labels = {"paas.app": app_name, "paas.source-build": str(build_id)}
    if layer:
        labels["paas.layer"] = layer
    return {
        "Entrypoint": ["/usr/local/bin/paas-launch"],
        "Cmd": ["/bin/bash"],
        "WorkingDir": "/app",
        "Env": [f"PATH={RUNTIME_PATH}", "LANG=C.UTF-8", "HOME=/app"],
        # The commit also keeps the build labels of the committing container, and job containers inherit
        # them from the image: build clean-up therefore skips job containers (see hosts.engine).
        "Labels": labels,
    }


def runtime_image_commit(engine, base: str, app_name: str, name: str, slug: Path, *, build_id: int) -> tuple[str, str]:
    """Commits `base` (the stack image, or a layer image on it) plus `slug` at /app as an app's runtime image
    `paas-app/APP:INSTANCE-NAME`; returns its reference and id. A build makes one; so does bringing back a release
    whose image was removed."""
    repository = f"paas-app/{app_name}"
    tag = f"{settings.PAAS_INSTANCE}-{name}"
    with engine.container(base, command=["/bin/true"], env={}, binds={}, build_id=build_id) as container:
        container.put_archive("/", slug)
        image_id = container.commit(repository, tag, image_conf(app_name, build_id))
    return f"{repository}:{tag}", image_id


def runtime_image_remake(artifact, name: str) -> tuple[str, str]:
    """Makes the runtime image of a buildpack `artifact` again from its stored slug and layer (whose blobs the caller
    checked); returns its new reference and id. `name` names the release in the platform's log."""
    engine = build_engine()
    stack = stack_ensure(engine, lambda text: log.info("restoring %s: %s", name, text.rstrip()))
    build_id = Build.objects.filter(release__artifact=artifact).values_list("pk", flat=True).first() or 0
    app_name = artifact.app.name
    base = stack
    if artifact.layer_digest:
        layer = Layer(artifact.layer_key, artifact.layer_digest, artifact.layer_size)
        base = layer_image_ensure(engine, stack, app_name, layer, build_id=build_id)
    tag = f"restore-{artifact.pk}-{int(time.time())}"
    return runtime_image_commit(engine, base, app_name, tag, blob_path(artifact.slug_digest), build_id=build_id)


_images_made: dict[str, threading.Lock] = {}  # one lock per image: a release's jobs wait for it, others do not
_images_made_lock = threading.Lock()
_MANIFEST_MAX = 1024 * 1024


def _image_lock(image: str) -> threading.Lock:
    with _images_made_lock:
        return _images_made.setdefault(image, threading.Lock())


def runtime_image_fetched(spec) -> None:
    """Makes a job's runtime image on this host, which lacks it, from what the controller sends
    (`spec.image_source`): a buildpack release's stack, dependency layer and slug, as its build made it, or a Docker
    image's archive."""
    source = spec.image_source
    repository, _, tag = spec.image.rpartition(":")
    prefix = f"{settings.PAAS_INSTANCE}-"
    if repository != f"paas-app/{source.app}" or not tag.startswith(prefix):
        raise ValueError(f"{spec.image} is not a runtime image of {source.app} on this platform")
    engine = build_engine()
    with _image_lock(spec.image):  # jobs of one release start together: the image is made once
        if engine.image_id(spec.image):
            return
        if source.archive_url:
            _image_archive_load(engine, spec.image, source)
        else:
            _runtime_image_from_slug(engine, tag.removeprefix(prefix), source)
    log.info("made %s from what the controller sent", spec.image)


def _runtime_image_from_slug(engine, name: str, source) -> None:
    for digest, url in source.urls.items():
        blob_fetch(digest, url)
    stack = stack_ensure(engine, lambda text: log.info("stack for %s: %s", source.app, text.rstrip()))
    base = stack
    if source.layer_digest:
        layer = Layer(source.layer_key, source.layer_digest, source.layer_size)
        base = layer_image_ensure(engine, stack, source.app, layer, build_id=source.build_id)
    runtime_image_commit(engine, base, source.app, name, blob_path(source.slug_digest), build_id=source.build_id)


def _image_archive_load(engine, image: str, source) -> None:
    """Loads a Docker image's archive fetched from the controller; an image that is not the one of the release's id
    is removed again (Docker checks each layer against the image's own digests as it loads)."""
    import urllib.request

    work = scratch_dir("image-fetch-")
    try:
        archive = work / "image.tar"
        with urllib.request.urlopen(source.archive_url, timeout=60) as response, open(archive, "wb") as writer:
            shutil.copyfileobj(response, writer, 1024 * 1024)
        _archive_check(archive, image, source.image_id)
        engine.image_load(archive)
    finally:
        scratch_remove(work)


def _archive_check(archive: Path, image: str, image_id: str) -> None:
    """Refuses an archive that holds anything but the image `image` of id `image_id` (its configuration's digest),
    before it is loaded: loading names every image an archive lists. Docker then checks each layer it loads
    against the digests that configuration lists."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.loads(member.read(_MANIFEST_MAX)) if member else None
    except (tarfile.TarError, KeyError, ValueError) as error:
        raise ValueError(f"the archive fetched for {image} is not an image archive: {error}") from error
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise ValueError(f"the archive fetched for {image} does not hold one image")
    config = str(manifest[0].get("Config", ""))
    config_digest = config.rsplit("/", 1)[-1].removesuffix(".json")
    if manifest[0].get("RepoTags") != [image] or f"sha256:{config_digest}" != image_id:
        raise ValueError(f"the archive fetched for {image} is not the release's image {image_id}: refused")
