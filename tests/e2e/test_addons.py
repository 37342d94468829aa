"""Add-ons and volumes on the real platform: a PostgreSQL add-on that a Django-style app migrates in its release phase
and keeps its rows in across a redeploy and a restart, backed up and restored; a Redis add-on serving a counter; a
worker's volume kept across a deploy; and one app's jobs unable to reach another app's add-on."""

import json
import re

import docker
import pytest

from tests.e2e.conftest import commit, eventually, ok

pytestmark = pytest.mark.e2e

NOTES_APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        with psycopg.connect(os.environ["DATABASE_URL"]) as db:
            if url.path == "/add":
                db.execute("INSERT INTO notes (text) VALUES (%s)", (parse_qs(url.query)["text"][0],))
            texts = [row[0] for row in db.execute("SELECT text FROM notes ORDER BY id")]
        body = ("notes: " + ",".join(texts) + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""
NOTES_MANAGE = """
import os
import sys

import psycopg

if sys.argv[1:] == ["migrate"]:
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
    print("Applied migrations: notes")
"""
COUNTER_APP = """
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


def redis(*words):
    url = urlparse(os.environ["REDIS_URL"])
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        reader = connection.makefile("rb")
        for command in (("AUTH", url.password), words):
            connection.sendall(f"*{len(command)}\\r\\n".encode() + b"".join(
                f"${len(str(word))}\\r\\n{word}\\r\\n".encode() for word in command))
            answer = reader.readline().decode().strip()
        return answer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/reach":
            body = reach(os.environ["TARGET"])
        else:
            body = "count " + redis("INCR", "hits").lstrip(":")
        body = (body + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def reach(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as error:
        return f"unreachable: {error}"
    return "reached"


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""
KEEPER_WORKER = """
import os
import time

with open("/data/deploys", "a") as log:
    log.write(os.environ["PAAS_RELEASE"] + "\\n")
with open("/data/deploys") as log:
    print("deploys so far:", log.read().split(), flush=True)
time.sleep(3600)
"""


def _app(platform, name: str, files: dict[str, str]):
    source = platform.root / name
    source.mkdir()
    for path, text in files.items():
        (source / path).write_text(text)
    commit(platform, source, "first")
    ok(platform.paas("create", name, cwd=source))
    return source


def _push(platform, source):
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stdout + push.stderr
    return push.stdout + push.stderr


def _notes(platform, path: str = "/") -> str:
    return eventually(lambda: (out := platform.curl(f"notes{path}")).startswith("notes:") and out, timeout=60)


def _curl(platform, app: str, path: str) -> str:
    import subprocess

    url = f"http://{app}.localhost:{platform.router_port}{path}"
    return subprocess.run(["curl", "-sS", "-m", "10", url], capture_output=True, text=True).stdout


def test_a_postgres_addon_keeps_an_apps_rows_across_a_redeploy_and_a_restart_and_a_backup_restores_them(logged_in):
    platform = logged_in
    files = {
        "app.py": NOTES_APP,
        "manage.py": NOTES_MANAGE,
        "requirements.txt": "psycopg[binary]==3.2.3\n",
        "Procfile": "web: python app.py\nrelease: python manage.py migrate\n",
    }
    source = _app(platform, "notes", files)
    created = ok(platform.paas("addons", "create", "postgres", "-a", "notes"))
    assert "DATABASE_URL is set" in created
    assert "Applied migrations: notes" in _push(platform, source)

    assert eventually(lambda: _curl(platform, "notes", "/add?text=one") == "notes: one\n", timeout=60)
    backup = ok(platform.paas("addons", "backup", "postgres", "-a", "notes"))
    assert "Backup b1 of postgres taken" in backup
    assert _curl(platform, "notes", "/add?text=two") == "notes: one,two\n"

    (source / "app.py").write_text(NOTES_APP + "\n# redeployed\n")
    commit(platform, source, "redeploy")
    _push(platform, source)
    assert _curl(platform, "notes", "/") == "notes: one,two\n"
    ok(platform.paas("restart", "-a", "notes"))
    assert eventually(lambda: _curl(platform, "notes", "/") == "notes: one,two\n", timeout=60)

    ok(platform.paas("addons", "restore", "postgres", "b1", "-a", "notes"))
    assert _curl(platform, "notes", "/") == "notes: one\n"
    listed = platform.paas_json("addons", "-a", "notes")
    assert [(a["name"], a["state"], a["server"], a["config_var"]) for a in listed] == [
        ("postgres", "up", "running", "DATABASE_URL")
    ]
    assert listed[0]["size"] > 1_000_000  # a PostgreSQL cluster's files
    assert [b["name"] for b in platform.paas_json("addons", "backups", "postgres", "-a", "notes")] == ["b1"]
    counted = ok(platform.paas("addons", "psql", "-c", "SELECT count(*) FROM notes", "-a", "notes"))
    assert re.search(r"^\s*1\s*$", counted, re.M), counted


def test_a_redis_addon_serves_a_counter_and_a_backup_restores_it(logged_in):
    platform = logged_in
    source = _app(
        platform, "counter", {"app.py": COUNTER_APP, "requirements.txt": "", "Procfile": "web: python app.py\n"}
    )
    ok(platform.paas("addons", "create", "redis", "-a", "counter"))
    _push(platform, source)
    assert eventually(lambda: _curl(platform, "counter", "/") == "count 1\n", timeout=60)
    assert _curl(platform, "counter", "/") == "count 2\n"
    ok(platform.paas("addons", "backup", "redis", "-a", "counter"))
    assert _curl(platform, "counter", "/") == "count 3\n"
    ok(platform.paas("addons", "restore", "redis", "b1", "-a", "counter"))
    assert eventually(lambda: _curl(platform, "counter", "/") == "count 3\n", timeout=30)  # 2, restored, then one
    assert ok(platform.paas("addons", "redis-cli", "redis", "GET", "hits", "-a", "counter")).splitlines()[-1] == "3"


def test_one_apps_jobs_cannot_reach_another_apps_addon(logged_in):
    platform = logged_in
    client = docker.from_env()
    mine = [f"paas.instance={platform.instance()}", "paas.app=notes", "paas.addon=postgres"]
    [notes_db] = client.containers.list(filters={"label": mine})
    address = next(iter(notes_db.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    ok(platform.paas("env", "set", "TARGET=postgres.addon.notes.internal:5432", "-a", "counter"))
    assert eventually(lambda: _curl(platform, "counter", "/reach").startswith("unreachable"), timeout=60)
    ok(platform.paas("env", "set", f"TARGET={address}:5432", "-a", "counter"))
    reached = _curl(platform, "counter", "/reach")
    assert reached.startswith("unreachable"), reached
    # and the app's own jobs do reach it, by name
    reach_own = ok(platform.paas("run", "--no-tty", "-a", "notes", "--", f'python -c "{REACH_OWN}"'))
    assert "reached" in reach_own


REACH_OWN = (
    "import socket; socket.create_connection(('postgres.addon.notes.internal', 5432), timeout=3); print('reached')"
)


def test_a_workers_volume_keeps_its_file_across_a_deploy_and_its_scale_stays_at_one(logged_in):
    platform = logged_in
    source = _app(
        platform,
        "keeper",
        {"worker.py": KEEPER_WORKER, "requirements.txt": "", "Procfile": "worker: python worker.py\n"},
    )
    ok(platform.paas("volumes", "create", "data", "--mount", "/data", "--process", "worker", "-a", "keeper"))
    _push(platform, source)
    ok(platform.paas("scale", "worker=1", "-a", "keeper"))
    once = re.compile(r"deploys so far: \['v\d+'\]")
    assert eventually(lambda: once.search(ok(platform.paas("logs", "-a", "keeper"))), timeout=60)
    (source / "worker.py").write_text(KEEPER_WORKER + "\n# again\n")
    commit(platform, source, "again")
    _push(platform, source)
    twice = re.compile(r"deploys so far: \['v\d+', 'v\d+'\]")
    assert eventually(lambda: twice.search(ok(platform.paas("logs", "-a", "keeper"))), 60), ok(
        platform.paas("logs", "-a", "keeper")
    )
    refused = platform.paas("scale", "worker=2", "-a", "keeper")
    assert refused.exit_code != 0 and "mounts the volume data" in refused.output
    listed = platform.paas_json("volumes", "-a", "keeper")
    assert [(v["name"], v["path"], v["process_type"]) for v in listed] == [("data", "/data", "worker")]
    assert listed[0]["size"] is not None


def test_destroying_an_app_removes_its_addon_and_volume(logged_in):
    platform = logged_in
    client = docker.from_env()
    instance = platform.instance()
    ok(platform.paas("destroy", "-a", "keeper", "--confirm", "keeper"))
    ok(platform.paas("destroy", "-a", "counter", "--confirm", "counter"))

    def gone():
        mine = {"label": f"paas.instance={instance}"}
        names = [c["Names"][0] for c in client.api.containers(all=True, filters=mine)]
        volumes = [v["Name"] for v in client.api.volumes(filters=mine)["Volumes"] or []]
        return not any("-counter-" in n or "-keeper-" in n for n in names + volumes)

    assert eventually(gone, timeout=30), json.dumps(client.api.volumes(filters={"label": "paas.app"})["Volumes"])
