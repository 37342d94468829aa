"""Day two on real Docker, SSH and Caddy: config vars, rollback, release diff, restart and destroy."""

from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import LoadLoop, commit, eventually, ok

pytestmark = pytest.mark.e2e

GREETER = """\
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"{os.environ.get('GREETING', 'no greeting')} ({os.environ['PAAS_RELEASE']})\\n"
"""


def write_greeter(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(GREETER)
    (directory / "requirements.txt").write_text("flask\ngunicorn\n")
    (directory / "Procfile").write_text("web: gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app\n")


def test_config_rollback_diff_restart_and_destroy(logged_in):
    platform = logged_in
    source = platform.root / "life"
    write_greeter(source)
    commit(platform, source, "greeter")
    ok(platform.paas("create", "life", cwd=source))
    assert "takes effect with the first deploy" in ok(platform.paas("env", "set", "GREETING=hello", cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "v2 deployed" in push.stderr
    assert platform.curl("life") == "hello (v2)\n"

    with LoadLoop(platform, "life") as load:
        output = ok(platform.paas("env", "set", "GREETING=bonjour", "-a", "life"))
        assert "Made v3 of life" in output and "v3 is live." in output
        assert platform.curl("life") == "bonjour (v3)\n"
        output = ok(platform.paas("-a", "life", "rollback"))
        assert "Rollback to v2: made v4 of life" in output
        assert platform.curl("life") == "hello (v4)\n"
        containers_before = {job["container_id"] for job in platform.paas_json("ps", "-a", "life")}
        assert "v4 is live." in ok(platform.paas("restart", "-a", "life"))
    assert load.failures() == [], load.failures()[:5]
    # The load ran through each change: it was answered by every release, and by nothing else.
    assert load.bodies() == {"hello (v2)\n", "bonjour (v3)\n", "hello (v4)\n"}, load.bodies()
    assert len(load.answers) > 20

    jobs = [job for job in platform.paas_json("ps", "-a", "life") if job["state"] != "stopping"]
    assert [job["state"] for job in jobs] == ["up"] and jobs[0]["container_id"] not in containers_before

    diff = ok(platform.paas("releases", "diff", "3", "4", "-a", "life"))
    assert "config ~ GREETING" in diff and "bonjour" not in diff
    assert "GREETING: bonjour -> hello" in ok(
        platform.paas("releases", "diff", "3", "4", "--show-values", "-a", "life")
    )
    actions = [event["action"] for event in platform.paas_json("events", "-a", "life")]
    assert actions[:5] == ["restart", "rollback", "config", "release", "build"]

    _destroy_and_recreate(platform, source)


def _destroy_and_recreate(platform, source: Path) -> None:
    engine = docker.from_env()
    instance = platform.instance()
    images = [image for image in engine.images.list(name="paas-app/life") if image.tags]
    assert images
    assert "Destroyed life" in ok(platform.paas("destroy", "-a", "life", "--confirm", "life"))
    assert eventually(lambda: "No app is deployed at this address" in platform.curl("life"))
    assert not engine.containers.list(all=True, filters={"label": ["paas.app=life", f"paas.instance={instance}"]})
    assert not [image for image in engine.images.list(name="paas-app/life") if image.tags]
    assert not engine.volumes.list(filters={"name": f"paas-cache-{instance}-life"})
    assert not (platform.data_dir / "repos" / "life.git").exists()

    ok(platform.paas("create", "life", cwd=source))
    assert platform.paas_json("releases", "-a", "life") == []
    assert platform.paas_json("env", "-a", "life") == {}
    assert [event["action"] for event in platform.paas_json("events", "-a", "life")] == ["app.create"]
    clone = platform.git("clone", f"ssh://git@127.0.0.1:{platform.ssh_port}/life.git", "cloned", cwd=platform.root)
    assert clone.returncode == 0 and "empty repository" in clone.stderr, clone.stderr
