"""Health checks and resource limits on real Docker, SSH and Caddy: a failing check keeps the old release serving,
a job past its memory limit is reported as killed for memory, and limits reach Docker."""

import subprocess
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e


def write_server(directory: Path, version: str, health: int = 200) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(web_app(f"{version} {{PAAS_RELEASE}}", health))
    (directory / "requirements.txt").write_text("")
    (directory / "Procfile").write_text("web: python app.py\n")


def test_a_release_whose_health_check_fails_keeps_the_old_one_serving(logged_in):
    platform = logged_in
    source = platform.root / "checked"
    write_server(source, "one")
    commit(platform, source, "one")
    ok(platform.paas("create", "checked", cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    output = ok(platform.paas("checks", "set", "web", "/healthz", "--timeout", "1", "-a", "checked"))
    assert "Made v2 of checked" in output and "v2 is live." in output
    assert platform.curl("checked") == "one v2\n"
    [job] = [job for job in platform.paas_json("ps", "-a", "checked") if job["state"] != "stopping"]
    assert job["last_check"].startswith("200 OK in ") and job["check_passes"] >= 2

    write_server(source, "two", health=500)
    commit(platform, source, "a health check that fails")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "v3 did not start: web.1 crashed 3 times on start: health check failed: GET /healthz answered 500" in (
        push.stderr
    )
    assert platform.curl("checked") == "one v2\n"
    assert [job["release"] for job in platform.paas_json("ps", "-a", "checked") if job["state"] == "up"] == [2]

    def actions():
        return {event["action"] for event in platform.paas_json("events", "-a", "checked")}

    assert eventually(lambda: {"deploy.failed", "job.check_failed"} <= actions(), timeout=15), actions()


def test_limits_reach_docker_and_a_job_past_its_memory_is_reported_killed_for_memory(logged_in):
    platform = logged_in
    source = platform.root / "hungry"
    write_server(source, "hungry")
    commit(platform, source, "hungry")
    ok(platform.paas("create", "hungry", cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    output = ok(platform.paas("limits", "set", "web", "memory=64m", "cpu=0.5", "-a", "hungry"))
    assert "web: memory=64m cpu=0.5 pids=512" in output and "is live." in output
    [job] = [job for job in platform.paas_json("ps", "-a", "hungry") if job["state"] != "stopping"]
    assert job["limits"] == {"memory": "64m", "cpus": 0.5, "pids": 512}
    config = docker.from_env().containers.get(job["container_id"]).attrs["HostConfig"]
    assert (config["Memory"], config["NanoCpus"], config["PidsLimit"]) == (64 * 1024**2, 500_000_000, 512)

    assert platform.curl("hungry") == "hungry v1\n"
    _hog(platform)  # allocates past the limit

    def oom_reported():
        jobs = [job for job in platform.paas_json("ps", "-a", "hungry") if job["state"] != "stopping"]
        return jobs if "killed: out of memory (limit 64m)" in jobs[0]["reason"] else None

    [job] = eventually(oom_reported, timeout=30)
    assert job["exit_code"] == 137 and job["restarts"] >= 1
    assert "killed: out of memory (limit 64m)" in ok(platform.paas("ps", "-a", "hungry"))
    events = platform.paas_json("events", "-a", "hungry")
    assert any(e["action"] == "job.oom" and "web.1 killed: out of memory" in e["detail"] for e in events)
    assert eventually(lambda: platform.curl("hungry") == "hungry v1\n", timeout=30)  # restarted


def _hog(platform) -> None:
    url = f"http://hungry.localhost:{platform.router_port}/hog"
    subprocess.run(["curl", "-sS", "-m", "10", url], capture_output=True, text=True)
