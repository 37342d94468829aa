"""The stack image: a Debian root file system with Python, Node.js and Go, built locally and imported into Docker.

No image registry is involved: `debootstrap` makes the root file system, `docker import` turns it
into an image. The image's tag is a hash of its recipe, so it is built on first need and reused
until the recipe changes.
"""

import base64
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from hosts.drivers.docker import APP_GID, APP_UID
from paas.errors import PaasError

SUITE = "bookworm"
PACKAGES = (
    *("python3", "python3-venv", "python3-dev", "build-essential", "ca-certificates", "curl", "git"),
    *("nodejs", "golang-go", "busybox"),  # the Node.js and Go buildpacks; busybox httpd serves static sites
)
# npm itself comes from the npm registry (one self-contained tarball, checked against its integrity hash): Debian's
# npm package needs virtual packages that debootstrap cannot resolve.
NPM = (
    "10.9.2",
    "https://registry.npmjs.org/npm/-/npm-10.9.2.tgz",
    "sha512-iriPEPIkoMYUy3F6f3wwSZAU93E0Eg6cHwIR6jzzOXWSy+SD/rOODEs74cVONHKSx2obXtuUoyidVEhISrisgQ==",
)
REPOSITORY = "paas/stack"
LAUNCHER = Path(__file__).parent / "scripts" / "launch"
RUNTIME_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_CHANGES = [f"ENV PATH={RUNTIME_PATH}", "ENV LANG=C.UTF-8", "ENV HOME=/app", "WORKDIR /app"]
# The user apps and builds run as (hosts.drivers.docker.APP_USER), named so that tools that look it up find it.
APP_ACCOUNT = ("paas", APP_UID, APP_GID)
# An empty virtualenv made at /app/.venv, kept here: the Python buildpack copies it rather than running
# `python3 -m venv` (which takes seconds to install pip) on every build that needs a new one.
PYTHON_VENV_TEMPLATE = "usr/lib/paas/python-venv"


class StackError(PaasError):
    """The stack image could not be built."""


def stack_tag() -> str:
    """The stack image's tag: the suite and a hash of everything that goes into the image."""
    recipe = hashlib.sha256()
    recipe.update(Path(__file__).read_bytes())  # this module is the recipe: packages, steps, settings
    recipe.update(LAUNCHER.read_bytes())
    return f"{SUITE}-{recipe.hexdigest()[:12]}"


def stack_image() -> str:
    """The full reference of the current stack image."""
    return f"{REPOSITORY}:{stack_tag()}"


def stack_ensure(engine, on_output: Callable[[str], None]) -> str:
    """The stack image, built first if the engine does not have it yet. Safe to call concurrently."""
    reference = stack_image()
    if engine.image_id(reference):
        return reference
    lock_dir = Path(settings.DATA_DIR) / "locks"  # private to the platform, unlike /tmp
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock_dir / f"stack-{stack_tag()}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not engine.image_id(reference):
            _stack_build(engine, on_output)
    return reference


def _run(command: list[str], on_output: Callable[[str], None]) -> None:
    # umask 022 whatever the platform's: the root file system's own modes let the app user (not root) use it
    result = subprocess.run(command, capture_output=True, text=True, umask=0o022)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        on_output(tail + "\n")
        raise StackError(f"{command[0]} exited with status {result.returncode}")


def _stack_build(engine, on_output: Callable[[str], None]) -> None:
    if shutil.which("debootstrap") is None:
        raise StackError("debootstrap is not installed; `make up` installs it (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise StackError("building the stack image needs root (debootstrap); run the platform as root")
    work = Path(settings.DATA_DIR) / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="stack-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        on_output(f"-----> Building the stack image {stack_image()} (once; takes a few minutes)\n")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                settings.PAAS_STACK_MIRROR,
            ],
            on_output,
        )
        _stack_finish_rootfs(rootfs, on_output)
        _stack_install_npm(rootfs, Path(scratch), on_output)
        tarball = Path(scratch) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], on_output)
        engine.image_import(tarball, REPOSITORY, stack_tag(), IMAGE_CHANGES)
        on_output("-----> Stack image ready\n")


def _stack_finish_rootfs(rootfs: Path, on_output: Callable[[str], None]) -> None:
    """Adds the app user, the launcher and /app (the app user's), and drops package caches the image does not need."""
    name, uid, gid = APP_ACCOUNT
    _run(["groupadd", "--root", str(rootfs), "--gid", str(gid), name], on_output)
    home = ["--home-dir", "/app", "--no-create-home", "--shell", "/bin/bash"]
    _run(["useradd", "--root", str(rootfs), "--uid", str(uid), "--gid", str(gid), *home, name], on_output)
    rootfs.chmod(0o755)
    (rootfs / "app").mkdir(exist_ok=True)
    (rootfs / "app").chmod(0o755)
    os.chown(rootfs / "app", uid, gid)
    launcher = rootfs / "usr" / "local" / "bin" / "paas-launch"
    shutil.copyfile(LAUNCHER, launcher)
    launcher.chmod(0o755)
    _run(["chroot", str(rootfs), "/usr/bin/python3", "-m", "venv", "/app/.venv"], on_output)
    (rootfs / PYTHON_VENV_TEMPLATE).parent.mkdir(parents=True, exist_ok=True)
    (rootfs / PYTHON_VENV_TEMPLATE).parent.chmod(0o755)  # whatever this process's umask: the app user copies it
    (rootfs / "app" / ".venv").rename(rootfs / PYTHON_VENV_TEMPLATE)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()


def _stack_install_npm(rootfs: Path, scratch: Path, on_output: Callable[[str], None]) -> None:
    """Unpacks npm (NPM) into /usr/local/lib/node_modules/npm, with `npm` and `npx` in /usr/local/bin."""
    version, url, integrity = NPM
    on_output(f"-----> Adding npm {version} from the npm registry\n")
    tarball = scratch / "npm.tgz"
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(tarball, "wb") as file:
            shutil.copyfileobj(response, file)
    except OSError as error:
        raise StackError(f"could not download npm from {url}: {error}") from error
    algorithm, expected = integrity.split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise StackError(f"{url} does not match its integrity hash {integrity}")
    target = rootfs / "usr" / "local" / "lib" / "node_modules" / "npm"
    for directory in (target.parent.parent, target.parent, target):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)  # whatever this process's umask: the app user runs npm
    _run(["tar", "-xzf", str(tarball), "-C", str(target), "--strip-components=1", "--no-same-owner"], on_output)
    for command in ("npm", "npx"):
        (rootfs / "usr" / "local" / "bin" / command).symlink_to(f"../lib/node_modules/npm/bin/{command}-cli.js")
