"""No request fails while an app is redeployed, scaled up and down and restarted under steady load."""

import time

import pytest

from tests.e2e.conftest import LoadLoop, commit, eventually, ok
from tests.e2e.test_app_lifecycle import GREETER, write_greeter

pytestmark = pytest.mark.e2e

APP = "steady-load"
SHOUTING = GREETER.replace("'no greeting')}", "'no greeting').upper()}")  # a code change the answers show


def push(platform, source, version: int, app_source: str | None = None) -> None:
    """`git push`, of a code change when `app_source` is given."""
    if app_source is not None:
        (source / "app.py").write_text(app_source)
        commit(platform, source, f"v{version}")
    result = platform.git("push", "paas", "main", cwd=source)
    assert result.returncode == 0, result.stderr
    assert f"v{version} deployed" in result.stderr


def env_set(platform, greeting: str, version: int) -> None:
    output = ok(platform.paas("env", "set", f"GREETING={greeting}", "-a", APP))
    assert f"Made v{version} of {APP}" in output and f"v{version} is live." in output


def settle(platform, count: int) -> None:
    """Waits until the app runs `count` jobs, all up: the jobs it no longer wants have been drained and stopped."""

    def settled() -> bool:
        return [job["state"] for job in platform.paas_json("ps", "-a", APP)] == ["up"] * count

    assert eventually(settled), platform.paas_json("ps", "-a", APP)


def scale_web(platform, count: int) -> None:
    assert f"{APP}: web={count} (v6)" in ok(platform.paas("scale", f"web={count}", "-a", APP))
    settle(platform, count)


def test_no_request_fails_during_deploys_scaling_and_a_restart(logged_in):
    platform = logged_in
    source = platform.root / APP
    write_greeter(source)
    commit(platform, source, "greeter")
    ok(platform.paas("create", APP, cwd=source))
    push(platform, source, 1)
    assert platform.curl(APP) == "no greeting (v1)\n"

    started = time.monotonic()
    with LoadLoop(platform, APP, max_seconds=900, workers=4) as load:
        env_set(platform, "hello", 2)
        push(platform, source, 3, SHOUTING)
        env_set(platform, "bonjour", 4)
        push(platform, source, 5, GREETER)
        env_set(platform, "hola", 6)
        scale_web(platform, 3)
        scale_web(platform, 1)
        assert "v6 is live." in ok(platform.paas("restart", "-a", APP))
        settle(platform, 1)
    elapsed = time.monotonic() - started

    assert load.failures() == [], load.failures()[:5]
    expected = {"no greeting (v1)\n", "hello (v2)\n", "HELLO (v3)\n", "BONJOUR (v4)\n", "bonjour (v5)\n", "hola (v6)\n"}
    assert load.bodies() == expected, load.bodies()
    assert len(load.answers) / elapsed >= 24, f"{len(load.answers)} answers in {elapsed:.1f}s"  # dozens a second
