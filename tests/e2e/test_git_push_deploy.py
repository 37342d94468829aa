"""From `git push` to what curl gets through the router, on real Docker, SSH, Celery and Caddy."""

import time
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import commit, eventually

pytestmark = pytest.mark.e2e

APP_SOURCE = """\
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"{GREETING} from job {os.environ['PAAS_JOB_ID']} of {os.environ['PAAS_RELEASE']}\\n"
"""


def write_app(directory: Path, greeting: str, requirements: str = "flask\ngunicorn\n") -> None:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(f"GREETING = {greeting!r}\n" + APP_SOURCE)
    (directory / "requirements.txt").write_text(requirements)
    (directory / "Procfile").write_text("web: gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app\n")


def deploy_new_app(platform, name: str, greeting: str) -> Path:
    source = platform.root / name
    write_app(source, greeting)
    commit(platform, source, "first")
    result = platform.paas("create", name, cwd=source)
    assert result.exit_code == 0, result.output
    assert f"ssh://git@127.0.0.1:{platform.ssh_port}/{name}.git" in result.output
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "Installing requirements with pip" in push.stderr
    assert f"v1 deployed to http://{name}.localhost:{platform.router_port}/" in push.stderr
    return source


def test_push_deploys_redeploys_refuses_a_broken_build_and_scales(logged_in):
    platform = logged_in
    source = deploy_new_app(platform, "hello", "hello v1")
    assert platform.curl("hello").startswith("hello v1 from job")
    assert "hello" in [app["name"] for app in platform.paas_json("apps")]
    info = platform.paas("info", cwd=source)
    assert info.exit_code == 0 and "web=1" in info.output and "v1" in info.output

    write_app(source, "hello v2")
    commit(platform, source, "second")
    push = platform.git_background("push", "paas", "main", cwd=source)
    answers = set()
    while push.poll() is None:  # the app keeps answering while v2 builds and rolls out
        answers.add(platform.curl("hello").split(" from job")[0])
        time.sleep(0.2)
    stderr = push.stderr.read()
    assert push.returncode == 0, stderr
    assert "v2 deployed" in stderr
    assert answers <= {"hello v1", "hello v2"}, answers
    assert [platform.curl("hello") for _ in range(6)] == [platform.curl("hello")] * 6
    assert platform.curl("hello").endswith("of v2\n")

    write_app(source, "hello v3", requirements="flask\nthis-package-does-not-exist-paas==1.0\n")
    commit(platform, source, "broken")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "No matching distribution found for this-package-does-not-exist-paas" in push.stderr
    assert "Build failed" in push.stderr
    assert platform.curl("hello").startswith("hello v2 from job")
    releases = platform.paas_json("releases", "-a", "hello")
    assert [release["version"] for release in releases] == [2, 1]

    result = platform.paas("scale", "web=2", "-a", "hello")
    assert result.exit_code == 0, result.output
    assert "hello: web=2 (v2)" in result.output
    jobs = [job for job in platform.paas_json("ps", "-a", "hello") if job["state"] == "up"]
    assert len(jobs) == 2
    running = docker.from_env().containers.list(
        filters={"label": ["paas.app=hello", f"paas.instance={platform.instance()}"]}
    )
    assert len(running) == 2
    for job in jobs:
        assert platform.curl("hello", port=job["host_port"]) == f"hello v2 from job {job['id']} of v2\n"
    served_by = {platform.curl("hello").split()[4] for _ in range(12)}
    assert served_by == {str(job["id"]) for job in jobs}


def test_bad_input_gets_clear_errors(logged_in):
    platform = logged_in
    result = platform.paas("create", "Not_Valid")
    assert result.exit_code == 4
    assert "lowercase letters, digits and dashes" in result.output
    result = platform.paas("scale", "web=two", "-a", "hello")
    assert result.exit_code != 0 and "is not TYPE=N" in result.output
    source = platform.root / "stranger"
    write_app(source, "nope")
    commit(platform, source, "first")
    platform.git("remote", "add", "paas", f"ssh://git@127.0.0.1:{platform.ssh_port}/not-mine.git", cwd=source)
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0 and "does not exist or you may not push to it" in push.stderr


def test_a_push_no_buildpack_recognises_is_refused_with_the_reason(logged_in):
    platform = logged_in
    source = platform.root / "notes"
    source.mkdir()
    (source / "README.txt").write_text("just some notes\n")  # no manifest, no index.html, no Procfile
    commit(platform, source, "first")
    assert platform.paas("create", "notes", cwd=source).exit_code == 0
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "No buildpack recognised this app. Looked for: requirements.txt" in push.stderr
    assert "package.json (Node.js)" in push.stderr and "a Procfile (any other app)" in push.stderr
    assert platform.paas_json("releases", "-a", "notes") == []


def test_a_release_that_crashes_on_start_is_rolled_back_and_the_old_one_keeps_serving(logged_in):
    platform = logged_in
    source = deploy_new_app(platform, "crashy", "crashy v1")
    (source / "Procfile").write_text("web: python -c 'import sys; sys.exit(3)'\n")
    commit(platform, source, "crash on start")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "v2 did not start: web.1 crashed 3 times on start: it exited with status 3" in push.stderr
    assert "The previous release keeps serving" in push.stderr
    assert platform.curl("crashy").startswith("crashy v1 from job")
    assert platform.paas_json("info", "-a", "crashy")["formation"]["release"] == 1
    assert [job["release"] for job in platform.paas_json("ps", "-a", "crashy")] == [1]


def test_stopping_the_control_plane_leaves_apps_serving_and_a_restart_adopts_them(logged_in):
    platform = logged_in
    deploy_new_app(platform, "steady", "steady")
    before = platform.paas_json("ps", "-a", "steady")
    assert [job["state"] for job in before] == ["up"]
    assert platform.stop() == 0
    assert platform.curl("steady").startswith("steady from job")

    platform.start()
    time.sleep(5)  # several scheduler passes
    after = platform.paas_json("ps", "-a", "steady")
    assert [(job["id"], job["container_id"], job["restarts"]) for job in after] == [
        (job["id"], job["container_id"], job["restarts"]) for job in before
    ]
    containers = docker.from_env().containers.list(filters={"label": f"paas.instance={platform.instance()}"})
    assert before[0]["container_id"] in {container.id for container in containers}
    assert eventually(lambda: platform.curl("steady").startswith("steady from job"))
