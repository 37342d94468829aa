"""Each built-in buildpack, custom buildpacks and the build cache: the sample apps in tests/apps, pushed for real."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import commit, eventually

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).parent.parent / "apps"


def push_sample(platform, sample: str, app: str, *, create: bool = True):
    """Copies the sample into a fresh repository (or over the app's existing one), commits and pushes it."""
    source = platform.root / app
    if source.exists():
        for entry in source.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(SAMPLES / sample, source, dirs_exist_ok=True)
    commit(platform, source, sample)
    if create:
        result = platform.paas("create", app, cwd=source)
        assert result.exit_code == 0, result.output
    started = time.monotonic()
    push = platform.git("push", "paas", "main", cwd=source)
    print(f"push of {sample} to {app}: {time.monotonic() - started:.1f}s")  # timings, with pytest -s
    return source, push


def answer(platform, app: str, path: str = "/") -> tuple[int, str, str]:
    """Status, content type and body of GET `path` through the router."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{platform.router_port}{path}", headers={"Host": f"{app}.localhost"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode(errors="replace")


@pytest.mark.parametrize(
    ("sample", "logged", "body"),
    [
        ("python-pyproject", ["Python app detected", "Installing the project with pip"], "python-pyproject sample\n"),
        ("node-nolock", ["Node.js app detected", "npm install"], "node-nolock sample\n"),
        ("static", ["static app detected", "busybox httpd"], "<h1>static sample</h1>"),
        ("procfile-only", ["Procfile app detected", "No dependencies to install"], "procfile-only sample\n"),
        (
            "python-uv",
            ["Python app detected", "Installing the locked dependencies (uv.lock) with uv", "Installing uv"],
            "python-uv sample, signed uv\n",
        ),
        (
            "python-poetry",
            ["Python app detected", "Installing the locked dependencies (poetry.lock) with pip"],
            "python-poetry sample, signed poetry\n",
        ),
        ("dockerfile", ["Dockerfile found: building it", "Successfully built"], "dockerfile sample\n"),
        (
            "release-phase",
            ["Running release command: python3 release.py", "release phase of v1: migrations applied"],
            "release-phase sample\n",
        ),
    ],
)
def test_each_kind_of_app_deploys_and_answers(logged_in, sample, logged, body):
    platform = logged_in
    _, push = push_sample(platform, sample, sample)
    assert push.returncode == 0, push.stderr
    for line in logged:
        assert line in push.stderr
    assert "v1 deployed" in push.stderr
    assert body in platform.curl(sample)
    if sample == "static":  # content types, 404 for what is missing, no directory listing
        status, content_type, text = answer(platform, sample, "/css/site.css")
        assert (status, content_type) == (200, "text/css") and "teal" in text
        assert answer(platform, sample, "/")[1].startswith("text/html")
        assert answer(platform, sample, "/missing.html")[0] == 404
        assert answer(platform, sample, "/css/")[0] == 404
        assert answer(platform, sample, "/.release")[0] == 404  # the slug's own files are not the site's


def test_node_installs_from_the_lock_runs_the_build_script_and_reuses_node_modules_on_a_code_only_push(logged_in):
    platform = logged_in
    source, push = push_sample(platform, "node-lock", "node-lock")
    assert push.returncode == 0, push.stderr
    assert "Installing packages with npm ci (package-lock.json)" in push.stderr
    assert "Running the build script (npm run build)" in push.stderr
    assert platform.curl("node-lock") == "node-lock sample (built), ms says 1m\n"

    server = source / "server.js"
    server.write_text(server.read_text().replace("ms says", "ms still says"))
    commit(platform, source, "code only")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "Reusing the cached node_modules (package-lock.json and package.json unchanged)" in push.stderr
    assert "npm ci" not in push.stderr
    assert eventually(lambda: platform.curl("node-lock") == "node-lock sample (built), ms still says 1m\n")


def test_go_builds_and_a_compile_error_leaves_the_last_release_serving(logged_in):
    platform = logged_in
    source, push = push_sample(platform, "go", "gosample")
    assert push.returncode == 0, push.stderr
    assert "Go app detected" in push.stderr and "v1 deployed" in push.stderr
    assert platform.curl("gosample") == "go sample\n"

    _, push = push_sample(platform, "go-compile-error", "gosample", create=False)
    assert push.returncode != 0
    assert "undefined: greeting" in push.stderr
    assert "go build failed: fix the errors above and push again" in push.stderr
    assert platform.curl("gosample") == "go sample\n"
    assert [release["version"] for release in platform.paas_json("releases", "-a", "gosample")] == [1]


def test_a_code_only_repush_of_a_python_app_reuses_its_virtualenv(logged_in):
    platform = logged_in
    source, push = push_sample(platform, "python-requirements", "pyreq")
    assert push.returncode == 0, push.stderr
    assert "Installing requirements with pip" in push.stderr and "Caching the virtualenv" in push.stderr
    assert "Storing the dependency layer" in push.stderr
    assert platform.curl("pyreq") == "python-requirements sample v1\n"

    app_py = source / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    commit(platform, source, "code only")
    started = time.monotonic()
    push = platform.git("push", "paas", "main", cwd=source)
    print(f"code-only re-push of python-requirements: {time.monotonic() - started:.1f}s")
    assert push.returncode == 0, push.stderr
    assert "Reusing the cached virtualenv (requirements unchanged)" in push.stderr
    assert "Installing requirements with pip" not in push.stderr and "Successfully installed" not in push.stderr
    # The virtualenv is the dependency layer the first push stored: not copied out, stored nor committed again.
    assert "Reusing the dependency layer" in push.stderr and "Storing the dependency layer" not in push.stderr
    assert eventually(lambda: platform.curl("pyreq") == "python-requirements sample v2\n")
    images = {release["version"]: release["image"] for release in platform.paas_json("releases", "-a", "pyreq")}
    first, second = (_image_layers(images[version]) for version in (1, 2))
    assert len(first) == len(second) == 3  # the stack, the dependencies, the code
    assert first[:2] == second[:2] and first[2] != second[2]  # the same stack and dependencies, new code

    (source / "requirements.txt").write_text("flask\ngunicorn\nitsdangerous\n")  # changed: a fresh virtualenv
    commit(platform, source, "requirements changed")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "Reusing the cached virtualenv" not in push.stderr and "Installing requirements with pip" in push.stderr
    assert "Storing the dependency layer" in push.stderr
    assert eventually(lambda: platform.curl("pyreq") == "python-requirements sample v2\n")


def _image_layers(image: str) -> list[str]:
    """The digests of an image's file system layers, bottom first."""
    inspect = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .RootFS.Layers}}", image], capture_output=True, text=True
    )
    assert inspect.returncode == 0, inspect.stderr
    return json.loads(inspect.stdout)


def test_a_custom_buildpack_in_the_repository_gets_the_config_vars_and_a_bad_url_is_refused(logged_in):
    platform = logged_in
    source = platform.root / "custom"
    shutil.copytree(SAMPLES / "custom-buildpack", source)
    commit(platform, source, "custom")
    assert platform.paas("create", "custom", cwd=source).exit_code == 0
    result = platform.paas("env", "set", "GREETING=hello from config", "-a", "custom")
    assert result.exit_code == 0, result.output
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "Using the buildpacks named in .buildpacks" in push.stderr and "Mine app detected" in push.stderr
    assert platform.curl("custom") == "custom-buildpack sample: hello from config\n"

    result = platform.paas("env", "set", "BUILDPACK_URL=https://buildpacks.invalid/nope.git", "-a", "custom")
    assert result.exit_code == 0, result.output
    (source / "touched").write_text("1\n")
    commit(platform, source, "again")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "Could not fetch the buildpack https://buildpacks.invalid/nope.git" in push.stderr
    assert "could not be used" in push.stderr
    assert platform.curl("custom") == "custom-buildpack sample: hello from config\n"


@pytest.mark.parametrize(
    ("sample", "messages"),
    [
        (
            "python-bad-requirement",
            [
                "No matching distribution found for this-package-does-not-exist-paas-sample",
                "pip could not install requirements.txt (see above): fix the line it names",
            ],
        ),
        ("node-bad-json", ["package.json is not valid JSON (above): fix it and push again"]),
        ("procfile-bad", ["Procfile line 1 is not `type: command`: 'web python3 serve.py'; write it as"]),
        (
            "custom-buildpack-failing",
            [
                "error: the toolchain this app needs is missing",
                "Build failed: the buildpack exited with status 2; see the output above",
            ],
        ),
        (
            "dockerfile-failing",
            ["compiling the sample", "The Dockerfile build failed", "returned a non-zero code: 3"],
        ),
        ("release-phase-failing", ["migration 0002 failed", "release command failed: exit status 1"]),
        (
            "nothing-recognised",
            [
                "No buildpack recognised this app. Looked for: requirements.txt, pyproject.toml, setup.py (Python); "
                "package.json (Node.js); go.mod (Go); index.html or public/index.html (static); "
                "a Procfile (any other app)"
            ],
        ),
    ],
)
def test_a_broken_app_is_refused_saying_what_to_fix(logged_in, sample, messages):
    """Pushed over a working app: the push fails, says why, and the working release goes on serving."""
    platform = logged_in
    _, push = push_sample(platform, "procfile-only", sample)
    assert push.returncode == 0, push.stderr
    _, push = push_sample(platform, sample, sample, create=False)
    assert push.returncode != 0
    for message in messages:
        assert message in push.stderr
    assert platform.curl(sample) == "procfile-only sample\n"
    if sample != "release-phase-failing":  # its build succeeded: its release exists, marked failed
        assert [release["version"] for release in platform.paas_json("releases", "-a", sample)] == [1]
