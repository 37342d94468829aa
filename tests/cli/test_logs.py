"""`paas logs` against a live test server: the last lines, filters, following, and terminal-safe output."""

import threading

from apps.logs import app_log_event, app_log_write
from tests.cli.test_cli import logged_in, run, user  # noqa: F401 - fixtures
from tests.factories import UserFactory, make_app

AT = 1_790_000_000.0


def test_logs_shows_the_last_lines_safely_and_filters(logged_in, user):  # noqa: F811
    make_app("shop", owner=user)
    app_log_write(
        app_name="shop",
        entries=[
            (AT, "web.1 v1 stdout", "GET / 200"),
            (AT + 1, "worker.1 v1 stderr", "\x1b]0;pwned\x07job done"),
            (AT + 2, "web.1 v2 stdout", "GET /about 404"),
        ],
    )
    result = logged_in("logs", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2026-09-21T14:13:20.000000Z web.1 v1 stdout: GET / 200",
        "2026-09-21T14:13:21.000000Z worker.1 v1 stderr: job done",
        "2026-09-21T14:13:22.000000Z web.1 v2 stdout: GET /about 404",
    ]
    assert logged_in("logs", "-n", "1", "-p", "web", "-a", "shop").output.endswith("web.1 v2 stdout: GET /about 404\n")
    assert logged_in("logs", "--since", "5m", "-a", "shop").output == ""
    wrong = logged_in("logs", "--since", "soon", "-a", "shop")
    assert wrong.exit_code == 4 and "is not a duration" in wrong.output


def test_logs_follow_shows_new_lines_as_they_come(logged_in, user):  # noqa: F811
    make_app("shop", owner=user)
    app_log_event("shop", "deploy", "v1 deployed")
    later = threading.Timer(0.3, lambda: app_log_event("shop", "scheduler", "web.1 crashed, exit 1, restarting in 1s"))
    later.start()
    result = logged_in("logs", "-f", "-a", "shop")  # tests end a followed log after PAAS_LOG_FOLLOW_MAX_SECONDS
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "paas[deploy]: v1 deployed",
        "paas[scheduler]: web.1 crashed, exit 1, restarting in 1s",
    ]


def test_another_users_app_log_is_not_found(logged_in):  # noqa: F811
    make_app("secret", owner=UserFactory())
    app_log_event("secret", "deploy", "v1 deployed")
    result = logged_in("logs", "-a", "secret")
    assert result.exit_code == 4 and "app 'secret' not found" in result.output and "deployed" not in result.output
