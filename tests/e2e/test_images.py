"""Dockerfile builds and image deploys on real Docker, SSH and Caddy: a Dockerfile's CMD and EXPOSE, a Procfile that
overrides it, FROM an image the engine lacks, a failing step, `paas deploy-image` of a local image and of an
uploaded `docker save` archive."""

import io
import subprocess
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import commit, ok, web_app

SERVER = web_app("{GREETING} from {PAAS_RELEASE} on {PORT}")

pytestmark = pytest.mark.e2e


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(exist_ok=True)
    for name in list(path.name for path in directory.iterdir() if path.name != ".git"):
        (directory / name).unlink()
    for name, text in files.items():
        (directory / name).write_text(text)


def push(platform, source: Path, message: str):
    commit(platform, source, message)
    return platform.git("push", "paas", "main", cwd=source)


def test_a_dockerfile_is_built_with_its_cmd_and_expose_and_a_broken_one_keeps_the_last_release(logged_in):
    platform = logged_in
    source = platform.root / "docked"
    dockerfile = "FROM paas/stack\nWORKDIR /srv\nCOPY server.py .\nEXPOSE 8000\nCMD PORT=8000 python3 server.py\n"
    write(source, {"Dockerfile": dockerfile, "server.py": SERVER})
    commit(platform, source, "a Dockerfile")
    ok(platform.paas("create", "docked", cwd=source))
    result = platform.git("push", "paas", "main", cwd=source)
    assert result.returncode == 0, result.stderr
    assert "Dockerfile found: building it" in result.stderr and ": FROM paas/stack" in result.stderr
    assert "Web process listens on port 8000" in result.stderr
    assert platform.curl("docked") == "hello from v1 on 8000\n"

    write(source, {"Dockerfile": "FROM paas/stack\nCOPY server.py /srv/\n", "server.py": SERVER})
    (source / "Procfile").write_text("web: python3 /srv/server.py\n")  # no EXPOSE: $PORT
    result = push(platform, source, "a Procfile")
    assert result.returncode == 0, result.stderr
    assert platform.curl("docked") == "hello from v2 on 5000\n"
    ok(platform.paas("env", "set", "GREETING=bonjour", "-a", "docked"))
    assert platform.curl("docked") == "bonjour from v3 on 5000\n"
    result = platform.paas("run", "-a", "docked", "--", "id -u; echo $GREETING")
    assert result.exit_code == 0 and "10000\nbonjour" in result.output, result.output

    write(source, {"Dockerfile": "FROM nosuchimage:1\nCMD true\n"})
    result = push(platform, source, "FROM an image nobody has")
    assert result.returncode != 0
    assert "builds FROM nosuchimage:1, which this platform's Docker engine does not have" in result.stderr
    assert "Build FROM paas/stack" in result.stderr

    write(source, {"Dockerfile": "FROM paas/stack\nRUN echo compiling && exit 3\nCMD true\n"})
    result = push(platform, source, "a step that fails")
    assert result.returncode != 0
    assert "compiling" in result.stderr and "The Dockerfile build failed" in result.stderr
    assert "returned a non-zero code: 3" in result.stderr
    assert platform.curl("docked") == "bonjour from v3 on 5000\n"


def _local_image(platform, tag: str) -> None:
    """Builds a small web image on the engine, FROM the stack image, as an operator would."""
    engine = docker.from_env()
    [stack] = [image for image in engine.images.list("paas/stack") if any("bookworm" in t for t in image.tags)][:1]
    context = platform.root / "image-context"
    context.mkdir(exist_ok=True)
    (context / "server.py").write_text(SERVER)
    dockerfile = f"FROM {stack.id}\nCOPY server.py /srv/\nEXPOSE 7000\nCMD PORT=7000 python3 /srv/server.py\n"
    (context / "Dockerfile").write_text(dockerfile)
    engine.images.build(path=str(context), tag=tag, rm=True, pull=False)


def test_deploy_image_releases_a_local_image_and_an_uploaded_archive(logged_in):
    platform = logged_in
    ok(platform.paas("create", "imaged", "--no-remote"))
    result = platform.paas("deploy-image", "nosuch/image:1", "-a", "imaged")
    assert result.exit_code != 0 and "has no image nosuch/image:1" in result.output

    _local_image(platform, "e2e-local/web:1")
    output = ok(platform.paas("deploy-image", "e2e-local/web:1", "-a", "imaged"))
    assert "Made v1 of imaged from e2e-local/web:1" in output and "v1 is live." in output
    assert platform.curl("imaged") == "hello from v1 on 7000\n"

    engine = docker.from_env()
    archive = io.BytesIO()
    for chunk in engine.images.get("e2e-local/web:1").save(named=True):
        archive.write(chunk)
    subprocess.run(["docker", "rmi", "-f", "e2e-local/web:1"], check=True, capture_output=True)
    output = ok(platform.paas("deploy-image", "-", "-a", "imaged", input=archive.getvalue()))
    assert "Made v2 of imaged from the uploaded image" in output and "v2 is live." in output
    assert platform.curl("imaged") == "hello from v2 on 7000\n"

    result = platform.paas("deploy-image", "-", "-a", "imaged", input=b"not an image archive")
    assert result.exit_code != 0 and "not an image archive the engine can load" in result.output
    assert platform.curl("imaged") == "hello from v2 on 7000\n"
