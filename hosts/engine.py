"""The Docker engine as the build pipeline uses it: import the stack, run build containers, commit images."""

import codecs
import contextlib
import json
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import requests
from docker.errors import APIError, ImageNotFound, NotFound
from docker.utils import parse_bytes

from hosts.drivers.docker import APP_GID, APP_UID, APP_USER, LABEL_INSTANCE, LABEL_JOB, Confinement, instance_network

LABEL_BUILD = "paas.build"
LAYER_DIR = "/tmp/paas-layer"  # where the builder leaves a build's dependency layer (see buildpacks.layers)
# What a build container's first step, as root, may do: give its handover paths to the app user, then become it.
HANDOVER_CAPABILITIES = ["CHOWN", "DAC_READ_SEARCH", "SETUID", "SETGID"]


class BuildContainer:
    """A build container: files go in before it starts, its output streams, files come out after."""

    def __init__(self, container):
        self.container = container
        self.timed_out = False

    def put_archive(self, path: str, archive: Path) -> None:
        """Unpacks the tar file `archive` at `path` inside the container, streamed from the file (never read whole)."""
        with open(archive, "rb") as reader:
            self.container.put_archive(path, reader)

    def run(self, on_output: Callable[[str], None], timeout: float) -> int:
        """Starts the container, passes its output on as it comes, and returns its exit status.

        A container still running after `timeout` seconds is killed, and `timed_out` is set.
        """
        watchdog = threading.Timer(timeout, self._kill)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span two chunks
        self.container.start()
        watchdog.start()
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                on_output(decoder.decode(chunk))
            on_output(decoder.decode(b"", final=True))
            return self.container.wait()["StatusCode"]
        finally:
            watchdog.cancel()

    def _kill(self) -> None:
        self.timed_out = True
        with contextlib.suppress(APIError):
            self.container.kill()

    def get_archive(self, path: str, target: Path, *, max_bytes: int) -> bool:
        """Writes a tar of `path` inside the container to `target`, streamed; True once it is all there.

        A tar larger than `max_bytes` is abandoned as soon as it passes the limit: `target` is removed, and the
        answer is False.
        """
        stream, _ = self.container.get_archive(path)
        size = 0
        try:
            with open(target, "wb") as writer:
                for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        break
                    writer.write(chunk)
        finally:
            stream.close()
            if size > max_bytes:
                target.unlink(missing_ok=True)
        return size <= max_bytes

    def read_text(self, path: str, *, max_bytes: int) -> str | None:
        """The text of the small file at `path` inside the container (at most `max_bytes` of it), or None when
        there is no such file."""
        try:
            stream, _ = self.container.get_archive(path)
        except NotFound:
            return None
        with contextlib.closing(stream):
            return _first_file_text(stream, max_bytes)

    def commit(self, repository: str, tag: str, conf: dict) -> str:
        """Saves the container's file system as an image; returns the image id."""
        return self.container.commit(repository=repository, tag=tag, conf=conf).id


class DockerBuildEngine:
    """The Docker operations of a build: stack image import, build containers, runtime images."""

    def __init__(self, docker_url: str, instance: str, confinement: Confinement | None = None):
        self.client = docker.DockerClient(base_url=docker_url, timeout=600)
        self.instance = instance
        self.confinement = confinement or Confinement.for_builds()

    def image_id(self, reference: str) -> str | None:
        """The id of a local image, or None when the engine does not have it."""
        try:
            return self.client.images.get(reference).id
        except ImageNotFound:
            return None

    def image_import(self, rootfs_tar: Path, repository: str, tag: str, changes: list[str]) -> str:
        """Imports a root file system tarball as an image (no registry involved)."""
        self.client.api.import_image_from_file(str(rootfs_tar), repository=repository, tag=tag, changes=changes)
        return self.client.images.get(f"{repository}:{tag}").id

    def image_build(
        self, context_tar: Path, tag: str, labels: dict, on_output: Callable[[str], None], timeout: float = 900
    ) -> str:
        """Builds a Dockerfile (in the tarred context) into `tag`, streaming its output; returns the image id.
        Raises ImageBuildError with the engine's message when a step fails, or when the build runs (or stays
        silent) for longer than `timeout` seconds: it is then abandoned, which stops it. Nothing is pulled: no
        registry."""
        memory = parse_bytes(self.confinement.memory) if self.confinement.memory else None
        limits = {"memory": memory, "memswap": memory} if memory else {}
        limits["cpusetcpus"] = f"0-{max(int(self.confinement.cpus), 1) - 1}"  # RUN steps: PAAS_BUILD_CPUS cores
        with open(context_tar, "rb") as context:
            stream = self.client.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                labels={**labels, LABEL_INSTANCE: self.instance},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                container_limits=limits,
                network_mode=instance_network(self.client, self.instance),  # no reaching other containers
                timeout=timeout,  # seconds without any output before the build is given up
            )
            deadline = time.monotonic() + timeout
            try:
                for chunk in stream:
                    if "stream" in chunk:
                        on_output(chunk["stream"])
                    if "error" in chunk:
                        raise ImageBuildError(str(chunk["error"]).strip())
                    if time.monotonic() > deadline:
                        stream.close()  # the engine stops a build whose client has gone
                        raise ImageBuildError(f"the build ran for longer than {timeout:.0f}s and was stopped")
            except requests.RequestException as error:  # the engine went quiet past `timeout`, or went away
                message = f"the build printed nothing for {timeout:.0f}s, or the engine left: {error}"
                raise ImageBuildError(message) from error
        return self.client.images.get(tag).id

    def image_load(self, archive: Path) -> list[str]:
        """Loads a `docker save` archive; returns the references (or ids) of the images it held."""
        with open(archive, "rb") as data:
            images = self.client.images.load(data)
        return [image.tags[0] if image.tags else image.id for image in images]

    def image_tag(self, reference: str, repository: str, tag: str) -> None:
        """Gives an image one more name."""
        self.client.images.get(reference).tag(repository, tag)

    def image_save(self, reference: str):
        """The image as a `docker save` archive, in chunks, with its name (for a host that lacks it)."""
        return self.client.api.get_image(reference)

    def image_untag(self, reference: str) -> None:
        """Takes a name off an image; the image itself stays while another name or image uses it."""
        with contextlib.suppress(ImageNotFound):
            self.client.images.remove(reference, noprune=True)

    def image_config(self, reference: str) -> dict:
        """An image's configuration (Cmd, Entrypoint, ExposedPorts, ...)."""
        return self.client.images.get(reference).attrs.get("Config") or {}

    def build_containers_remove(self) -> int:
        """Kills and removes this platform's build containers (running builds fail); returns how many."""
        containers = self.client.containers.list(
            all=True, filters={"label": [LABEL_BUILD, f"{LABEL_INSTANCE}={self.instance}"]}
        )
        builds = [container for container in containers if LABEL_JOB not in container.labels]
        for container in builds:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
        return len(builds)

    def volume_remove(self, name: str) -> None:
        """Removes a volume (a build cache); one that is gone already is fine."""
        with contextlib.suppress(NotFound):
            self.client.volumes.get(name).remove(force=True)

    def volumes(self, prefix: str) -> list[str]:
        """The names of the volumes whose name starts with `prefix` (build caches: paas-cache-INSTANCE-)."""
        listed = self.client.volumes.list(filters={"name": prefix})
        return sorted(volume.name for volume in listed if volume.name.startswith(prefix))

    def build_containers_remove_stale(self, older_than: float) -> int:
        """Removes this platform's build containers created more than `older_than` seconds ago (a build removes
        its own as it ends: these were left behind); returns how many."""
        summaries = self.client.api.containers(
            all=True, filters={"label": [LABEL_BUILD, f"{LABEL_INSTANCE}={self.instance}"]}
        )
        deadline = time.time() - older_than
        stale = [
            summary["Id"]
            for summary in summaries
            if LABEL_JOB not in (summary.get("Labels") or {}) and summary.get("Created", deadline) < deadline
        ]
        for container_id in stale:
            with contextlib.suppress(NotFound, APIError):
                self.client.api.remove_container(container_id, force=True)
        return len(stale)

    @contextlib.contextmanager
    def container(
        self, image: str, *, command: list[str], env: dict, binds: dict, build_id: int, handover: tuple[str, ...] = ()
    ) -> Iterator[BuildContainer]:
        """A created (not yet started) build container, removed on exit.

        It is confined as jobs are (the app user, no capabilities, limits) on this platform's network. Paths in
        `handover`, which hold files put in as root, are first given to the app user: the container then starts
        as root with only the capabilities to change their owner and to switch users, and `command` runs as the
        app user with none.
        """
        options = self.confinement.options(self.client)
        if handover:
            options.update(user="0:0", cap_add=HANDOVER_CAPABILITIES)
            command = _handed_over(command, handover)
        container = self.client.containers.create(
            image,
            entrypoint=command[:1],  # whatever the image's own (a layer image has the launcher)
            command=command[1:],
            environment=env,
            volumes=binds,
            labels={LABEL_BUILD: str(build_id), LABEL_INSTANCE: self.instance},
            working_dir="/app",
            network=instance_network(self.client, self.instance),
            **options,
        )
        try:
            yield BuildContainer(container)
        finally:
            with contextlib.suppress(NotFound, APIError):  # it may be gone already (platform stopping)
                container.remove(force=True)


def _first_file_text(chunks, max_bytes: int) -> str | None:
    """The text of the first regular file in a tar stream (given as chunks), or None when it has none."""
    import io

    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > max_bytes + 64 * 1024:  # a small file's tar is its header and its data, padded
            break
    with contextlib.suppress(tarfile.TarError), tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        for member in tar:
            if member.isfile():
                return tar.extractfile(member).read(max_bytes).decode("utf-8", errors="replace")
    return None


def _handed_over(command: list[str], paths: tuple[str, ...]) -> list[str]:
    """`command`, run as the app user once `paths` are the app user's (links are changed, never followed).

    setpriv leaves the app user no capabilities; no-new-privileges keeps it from gaining any back.
    """
    # Only what is not the app user's yet changes owner: a cache of thousands of files is the app user's already.
    script = (
        f"find {shlex.join(paths)} \\( ! -user {APP_UID} -o ! -group {APP_GID} \\) -exec chown -h {APP_USER} {{}} + && "
        f'exec setpriv --reuid={APP_UID} --regid={APP_GID} --clear-groups -- "$@"'
    )
    return ["/bin/sh", "-c", script, "handover", *command]


def tar_of_directory(source: Path, prefix: str, target: Path, *, executable: bool = False) -> Path:
    """Writes a tar of the files under `source` to the file `target`, and returns `target`.

    The files go under `prefix`, owned by root and readable by all, whatever this process's umask: directories
    0755, files 0644 (0755 if `executable`).
    """

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if info.isdir() or (executable and info.isfile()):
            info.mode = 0o755
        elif info.isfile():
            info.mode = 0o644
        return info

    with tarfile.open(target, mode="w") as tar:
        tar.add(source, arcname=prefix, filter=owned_by_root)
    return target


class ImageBuildError(Exception):
    """A Dockerfile build failed; the message is the engine's."""


class MemoryBuildTimeout(Exception):
    """Raised by a scripted build (MemoryBuildEngine.builder) that is still running when its time is up: the
    in-memory container is then `timed_out`, as a Docker one killed by its watchdog."""


class MemoryTar:
    """Tar files as the in-memory engine reads and writes them: {name: bytes}, names without a leading ./"""

    @staticmethod
    def files(archive: Path, under: str = "") -> dict[str, bytes]:
        """The regular files of a tar file (those under the directory `under`, named relative to it)."""
        prefix = f"{under.strip('/')}/" if under.strip("/") else ""
        found = {}
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./").lstrip("/")
                if member.isfile() and name.startswith(prefix):
                    found[name.removeprefix(prefix)] = tar.extractfile(member).read()
        return found

    @staticmethod
    def write(target: Path, files: dict[str, bytes], prefix: str = "") -> Path:
        """Writes `files` as a tar file, under the directory `prefix` (with entries for the directories)."""
        import io

        directories = {prefix} if prefix else set()
        for name in files:
            parts = f"{prefix}/{name}".strip("/").split("/")[:-1]
            directories |= {"/".join(parts[: depth + 1]) for depth in range(len(parts))}
        with tarfile.open(target, mode="w") as tar:
            for directory in sorted(directories):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"{prefix}/{name}".strip("/"))
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        return target


class MemoryBuildEngine:
    """The build engine's in-memory twin, for unit tests: the real pipeline runs on it end to end, no Docker.

    State is kept on the class (the pipeline makes a new engine for each build): `reset()` empties it.

    Buildpack builds: the stack image (any `paas/stack:` reference) is always present. A build container's `run`
    plays `builder(files, env, env_dir, on_output) -> (status, slug_files)`: `files` is the source put at /app
    ({name: bytes}), `env` the container's environment, `env_dir` the app's config vars as the build kit's ENV_DIR
    (/paas-build/env) holds them, `on_output` the build's output. Status 0 makes `slug_files` the /app that
    `get_archive` hands out; a builder that raises MemoryBuildTimeout has run out of time. `default_builder`
    plays the built-in buildpacks when `builder` is None.

    Dockerfile builds: `image_build` plays `dockerfile_builder(files, on_output) -> Config` (the built image's
    Config: Cmd, Entrypoint, ExposedPorts...; raise ImageBuildError for a failing step), or
    `default_dockerfile_builder`, which reads the Dockerfile roughly.
    """

    volumes_removed: list[str] = []
    images: dict[str, dict] = {}  # reference -> its Config, for image deploys in unit tests
    builder: Callable | None = None  # a scripted buildpack build; None: default_builder
    dockerfile_builder: Callable | None = None  # a scripted Dockerfile build; None: default_dockerfile_builder
    containers: list["MemoryBuildContainer"] = []  # every build container made, in order
    STACK_REPOSITORY = "paas/stack"
    STACK_CONFIG = {"Env": ["LANG=C.UTF-8", "HOME=/app"], "WorkingDir": "/app"}

    @classmethod
    def reset(cls) -> None:
        """Forgets every image, container, volume and commit, and the scripted builds."""
        cls.collection_reset()
        cls.images.clear()
        cls.containers.clear()
        cls.builder = None
        cls.dockerfile_builder = None

    def _scripted(self, name: str) -> Callable:
        """The build script `name` set on this engine or its class (never bound to it), or the default one."""
        script = self.__dict__.get(name) or getattr(type(self), name)
        return script or getattr(self, f"default_{name}")

    def image_id(self, reference: str) -> str | None:
        present = reference in self.images or reference.startswith(f"{self.STACK_REPOSITORY}:")
        return f"sha256:{abs(hash(reference)):x}" if present else None

    def image_tag(self, reference: str, repository: str, tag: str) -> None:
        self.images[f"{repository}:{tag}"] = self.image_config(reference)

    def image_untag(self, reference: str) -> None:
        self.images.pop(reference, None)

    def image_save(self, reference: str):
        return iter([b"archive of ", reference.encode()])

    def image_config(self, reference: str) -> dict:
        if reference not in self.images and self.image_id(reference):
            return dict(self.STACK_CONFIG)
        return self.images[reference]

    def image_import(self, rootfs_tar: Path, repository: str, tag: str, changes: list[str]) -> str:
        config = {"Env": [], "WorkingDir": ""}
        for change in changes:
            instruction, _, argument = change.partition(" ")
            if instruction == "ENV":
                config["Env"].append(argument)
            elif instruction == "WORKDIR":
                config["WorkingDir"] = argument
        self.images[f"{repository}:{tag}"] = config
        return self.image_id(f"{repository}:{tag}")

    def image_build(
        self, context_tar: Path, tag: str, labels: dict, on_output: Callable[[str], None], timeout: float = 900
    ) -> str:
        config = dict(self._scripted("dockerfile_builder")(MemoryTar.files(context_tar), on_output))
        config["Labels"] = {**(config.get("Labels") or {}), **labels}
        self.images[tag] = config
        image_id = self.image_id(tag)
        on_output(f"Successfully built {image_id.removeprefix('sha256:')[:12]}\nSuccessfully tagged {tag}\n")
        return image_id

    def image_load(self, archive: Path) -> list[str]:
        """The images of a `docker save` archive: their names, or, untagged, the ids their manifest entries give
        as `Config` (tests load only images they added)."""
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        return [name for entry in manifest for name in (entry.get("RepoTags") or [entry.get("Config")])]

    def volume_remove(self, name: str) -> None:
        self.volumes_removed.append(name)
        self.cache_volumes.discard(name)

    # For the collection (artifacts.collect) and rollbacks that make an image again from its slug: the volumes
    # and build containers (name -> when created) tests pretend the engine has, and the commits it made.
    cache_volumes: set[str] = set()
    build_containers: dict[str, float] = {}
    commits: list[tuple[str, list[tuple[str, bytes]]]] = []  # (reference, [(path, archive bytes)])

    @classmethod
    def collection_reset(cls) -> None:
        cls.volumes_removed.clear()
        cls.cache_volumes.clear()
        cls.build_containers.clear()
        cls.commits.clear()

    def volumes(self, prefix: str) -> list[str]:
        return sorted(name for name in self.cache_volumes if name.startswith(prefix))

    def build_containers_remove_stale(self, older_than: float) -> int:
        deadline = time.time() - older_than
        stale = [name for name, created in self.build_containers.items() if created < deadline]
        for name in stale:
            del self.build_containers[name]
        return len(stale)

    @contextlib.contextmanager
    def container(
        self, image: str, *, command: list[str], env: dict, binds: dict, build_id: int, handover: tuple[str, ...] = ()
    ) -> Iterator["MemoryBuildContainer"]:
        """A build container, listed in `build_containers` until the block ends (as Docker's is removed then)."""
        if not self.image_id(image):
            raise ImageNotFound(f"No such image: {image}")
        container = MemoryBuildContainer(
            self, image, command=command, env=env, binds=binds, build_id=build_id, handover=handover
        )
        name = f"paas-build-{build_id}-{len(self.containers)}"
        self.containers.append(container)
        self.build_containers[name] = time.time()
        try:
            yield container
        finally:
            self.build_containers.pop(name, None)
            container.removed = True

    def build_containers_remove(self) -> int:
        count = len(self.build_containers)
        self.build_containers.clear()
        return count

    def default_builder(self, files: dict, env: dict, env_dir: dict, on_output: Callable[[str], None]):
        """The built-in buildpacks, played: the first whose manifest the source has is detected; the slug is the
        source plus the `.release` of a buildpack with no default process types. Nothing recognised: status 100."""
        order = (
            ("Python", ("requirements.txt", "pyproject.toml", "setup.py"), "-----> Installing requirements with pip\n"),
            ("Node.js", ("package.json",), "-----> Installing dependencies with npm\n"),
            ("Go", ("go.mod",), "-----> Building with go build\n"),
            ("static", ("index.html", "public/index.html"), "-----> Serving the files with busybox httpd\n"),
            ("Procfile", ("Procfile",), ""),
        )
        for name, manifests, steps in order:
            if any(manifest in files for manifest in manifests):
                on_output(f"-----> {name} app detected\n{steps}-----> Discovering process types\n")
                return 0, {**files, ".release": b"---\ndefault_process_types: {}\n"}
        return 100, {}

    def default_dockerfile_builder(self, files: dict, on_output: Callable[[str], None]) -> dict:
        """A Dockerfile read roughly: FROM (an image this engine has, or an earlier stage), CMD, ENTRYPOINT,
        EXPOSE, ENV and WORKDIR make the Config; `RUN false` (or `RUN exit N`) is a failing step."""
        lines = files.get("Dockerfile", b"").decode("utf-8", errors="replace").replace("\\\n", " ").splitlines()
        steps = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        stages: dict[str, dict] = {}  # a stage's name -> its Config
        stage, config = "", {}
        for number, step in enumerate(steps, start=1):
            on_output(f"Step {number}/{len(steps)} : {step}\n")
            instruction, _, argument = step.partition(" ")
            if instruction.upper() == "FROM":
                stage, config = self._dockerfile_from(argument.split(), stages)
            else:
                config = self._dockerfile_step(instruction.upper(), argument.strip(), config)
            stages[stage] = config
            on_output(f" ---> {abs(hash((number, step))) % 16**12:012x}\n")
        return config

    def _dockerfile_from(self, words: list[str], stages: dict) -> tuple[str, dict]:
        """A stage's name and its first Config: its base image's, or an earlier stage's."""
        base = next(word for word in words if not word.startswith("--"))
        name = words[-1].lower() if len(words) >= 3 and words[-2].upper() == "AS" else f"#{len(stages)}"
        if base.lower() in stages:
            return name, dict(stages[base.lower()])
        reference = base if ":" in base.rsplit("/", 1)[-1] else f"{base}:latest"
        if not self.image_id(reference):
            raise ImageBuildError(f"pull access denied for {base}, repository does not exist")
        return name, dict(self.image_config(reference))

    @staticmethod
    def _dockerfile_step(instruction: str, argument: str, config: dict) -> dict:
        """The Config after one Dockerfile instruction other than FROM."""
        if instruction in ("CMD", "ENTRYPOINT"):
            command = json.loads(argument) if argument.startswith("[") else ["/bin/sh", "-c", argument]
            config = {**config, instruction.title(): command}
            if instruction == "ENTRYPOINT":
                config.pop("Cmd", None)  # as Docker does: a new ENTRYPOINT drops the CMD it inherited
        elif instruction == "EXPOSE":
            ports = {port if "/" in port else f"{port}/tcp": {} for port in argument.split()}
            config = {**config, "ExposedPorts": {**(config.get("ExposedPorts") or {}), **ports}}
        elif instruction == "ENV":
            pairs = shlex.split(argument)
            assigned = pairs if all("=" in pair for pair in pairs) else [f"{pairs[0]}={' '.join(pairs[1:])}"]
            config = {**config, "Env": [*(config.get("Env") or []), *assigned]}
        elif instruction == "WORKDIR":
            config = {**config, "WorkingDir": argument}
        elif instruction == "RUN" and (argument == "false" or argument.startswith("exit ")):
            code = 1 if argument == "false" else argument.split()[1]
            raise ImageBuildError(f"The command '/bin/sh -c {argument}' returned a non-zero code: {code}")
        return config


class MemoryBuildContainer:
    """A container of the in-memory build engine: it keeps the archives put in, plays the engine's scripted
    build when run, hands out its slug, and commits what was put in as an image."""

    def __init__(
        self,
        engine: MemoryBuildEngine,
        image: str,
        *,
        command: list[str] = (),
        env: dict | None = None,
        binds: dict | None = None,
        build_id: int = 0,
        handover: tuple[str, ...] = (),
    ):
        self.engine = engine
        self.image = image
        self.command = list(command)
        self.env = dict(env or {})
        self.binds = dict(binds or {})
        self.build_id = build_id
        self.handover = tuple(handover)
        self.archives: list[tuple[str, bytes]] = []
        self.paths: list[tuple[str, dict[str, bytes]]] = []  # (path, the files of the archive put there)
        self.output: list[str] = []
        self.status: int | None = None
        self.slug: dict[str, bytes] | None = None
        self.layer: dict | None = None  # {"key": ..., "files": {name: bytes}}: a dependency layer the build declared
        self.timed_out = False
        self.removed = False

    def put_archive(self, path: str, archive: Path) -> None:
        self.archives.append((path, Path(archive).read_bytes()))
        try:
            files = MemoryTar.files(archive)
        except tarfile.ReadError:  # some tests put in stand-ins that are no tar: kept as they are, no files
            files = {}
        self.paths.append((path, files))

    def files(self, path: str) -> dict[str, bytes]:
        """The files put in under `path`, named relative to it (later archives win)."""
        path = path.rstrip("/") or "/"
        found = {}
        for put_at, files in self.paths:
            put_at = put_at.rstrip("/") or "/"
            for name, data in files.items():
                full = f"{put_at.rstrip('/')}/{name}"
                if path == "/" or full.startswith(f"{path}/"):
                    found[full.removeprefix(path).lstrip("/")] = data
        return found

    def env_dir(self) -> dict[str, str]:
        """The config vars the build kit put in its ENV_DIR (/paas-build/env: a file per var)."""
        return {name: data.decode() for name, data in self.files("/paas-build/env").items()}

    def run(self, on_output: Callable[[str], None], timeout: float) -> int:
        def output(text: str) -> None:
            self.output.append(text)
            on_output(text)

        builder = self.engine._scripted("builder")
        try:
            self.status, slug, *layer = builder(self.files("/app"), dict(self.env), self.env_dir(), output)
        except MemoryBuildTimeout:
            self.timed_out = True
            self.status = 137  # killed
            return self.status
        if self.status == 0:
            self.slug = dict(slug)
            self.layer = layer[0] if layer else None
        return self.status

    def get_archive(self, path: str, target: Path, *, max_bytes: int) -> bool:
        """Writes the slug (or what was put at `path`) as Docker's get_archive of /app does: files under app/.
        A build that declared a dependency layer has its slug where the builder moved it, and the layer in /app."""
        path = path.rstrip("/")
        if path == "/app" and self.layer:  # the builder moved the code out: the dependency layer is what is left
            files = self.layer["files"]
        elif (path == "/app" or (path == f"{LAYER_DIR}/slug/app" and self.layer)) and self.slug is not None:
            files = self.slug
        else:
            files = self.files(path)
        MemoryTar.write(target, files, prefix=path.strip("/").rsplit("/", 1)[-1])
        if target.stat().st_size > max_bytes:
            target.unlink()
            return False
        return True

    def read_text(self, path: str, *, max_bytes: int) -> str | None:
        """A file the build left (the dependency layer's key), or one put in."""
        if path == f"{LAYER_DIR}/key":
            return self.layer["key"] if self.layer else None
        data = self.files(path.rsplit("/", 1)[0]).get(path.rsplit("/", 1)[1])
        return data[:max_bytes].decode() if data is not None else None

    def commit(self, repository: str, tag: str, conf: dict) -> str:
        reference = f"{repository}:{tag}"
        self.engine.images[reference] = conf
        self.engine.commits.append((reference, self.archives))
        return self.engine.image_id(reference)


def build_engine():
    """The engine builds run on: the Docker engine of DOCKER_HOST, or the in-memory twin in unit tests."""
    from django.conf import settings

    if settings.PAAS_HOST_DRIVER == "memory":
        return MemoryBuildEngine()
    return DockerBuildEngine(settings.DOCKER_HOST, settings.PAAS_INSTANCE)
