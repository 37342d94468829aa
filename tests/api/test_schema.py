"""The OpenAPI schema: complete and valid, its docs served from local static files, and kept by the live API."""

import re
import socket

import asyncssh
import pytest
import requests
import schemathesis
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from hypothesis import strategies as st
from schemathesis import engine
from schemathesis.engine import StopReason, events

from apps.services import key_add
from buildpacks.models import Build, BuildState
from buildpacks.services import build_fail, build_start
from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from scheduler.services import reconcile
from tests.factories import UserFactory, deploy, make_app, token_for

# Views that serve the schema and its docs are not part of it.
SCHEMA_VIEWS = {"api-schema", "api-docs"}


def _api_operations(patterns, prefix=""):
    """(path, method) for every route under /api/, in OpenAPI's spelling: `apps/<str:name>/` -> `/api/apps/{name}/`."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_operations(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/") and entry.name not in SCHEMA_VIEWS:
            view = entry.callback.view_class
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            for method in view.http_method_names:
                if method not in ("head", "options") and hasattr(view, method):
                    yield path, method


def test_the_schema_lists_every_api_operation(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == set(_api_operations(get_resolver().url_patterns))


def test_the_schema_is_valid_and_generated_without_warnings(tmp_path):
    GENERATOR_STATS.reset()  # counts from schemas generated earlier in this process
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/apps/{name}/" in (tmp_path / "schema.yaml").read_text()


def test_the_docs_use_local_static_files(client, live_server):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://|=[\"']//", html), "the docs page must not load anything from another site"
    assets = re.findall(r"""(?:src|href)="([^"]+)""", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/")
        assert requests.get(live_server.url + asset, timeout=10).status_code == 200, asset


def test_a_url_no_route_matches_is_refused_with_the_json_error_body(client):
    response = client.get("/api/apps/shop/releases/vlatest/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "no such URL: /api/apps/shop/releases/vlatest/" in response.json()["error"]
    assert client.get("/admin-nothing-here/")["Content-Type"].startswith("text/html")


@schemathesis.serializer("application/x-tar")
def _raw_bytes(ctx, value) -> bytes:
    """Request bodies declared as binary (an uploaded image archive) go as they are generated."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture
def seeded(transactional_db):
    """An operator who owns `shop`: two releases, running jobs, a succeeded and a failed build, an SSH key."""
    user = UserFactory(username="alice", is_staff=True)
    host_register_local()
    app = make_app("shop", owner=user)
    first = deploy(app, processes={"web": "serve", "worker": "work"}, config={"GREETING": "hello"})
    deploy(app, processes={"web": "serve"}, config={"GREETING": "hi", "DEBUG": "1"})
    reconcile()
    succeeded = Build.objects.create(app=app, revision="a" * 40, source_digest="sha256:" + "1" * 64, created_by=user)
    build_start(build=succeeded)
    Build.objects.filter(pk=succeeded.pk).update(state=BuildState.SUCCEEDED, release=first, finished_at=timezone.now())
    failed = Build.objects.create(app=app, revision="b" * 40, source_digest="sha256:" + "2" * 64)
    build_start(build=failed)
    build_fail(build=failed, error="pip could not find a package")
    key = key_add(user=user, public_key=asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())
    token = token_for(user)
    return {"token": token, "name": "shop", "version": 1, "build_id": succeeded.pk, "fingerprint": key.fingerprint}


CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


@pytest.fixture
def api_schema(live_server, seeded, monkeypatch):
    """The schema as the live server serves it, set up for a bounded, repeatable run as the seeded operator. Its
    attached runs end at once, as nothing feeds them."""
    monkeypatch.setattr(MemoryHostDriver, "runs_end_at_once", True)
    # Django's test server writes a response in small pieces; with Nagle's algorithm on, each keep-alive request
    # then waits ~40 ms for the client's delayed ACK. Accepted sockets inherit TCP_NODELAY from the listening one.
    live_server.thread.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Token {seeded['token']}"},
            "workers": 1,
            "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            # Real objects come from the seeded data alone (the hook below), so that every run sends the same requests.
            "phases": {phase: {"extra-data-sources": {"responses": False}} for phase in ("coverage", "fuzzing")},
        }
    )
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", config=config)
    known = {key: value for key, value in seeded.items() if key != "token"}

    @schema.hook("flatmap_path_parameters")
    def sometimes_real_objects(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        real = {key: known[key] for key in path_parameters if key in known}
        return st.sampled_from([path_parameters, {**path_parameters, **real}])

    return schema


def _failures(recorder):
    """Each check a scenario failed, with the curl command that repeats the request."""
    for checks in recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                yield f"{check.name}: {failure.title}\n{failure.message}\n{check.failure_info.code_sample}"


# The run is schemathesis' own engine (what `schemathesis run` drives): its examples, coverage (boundary values,
# wrong types, unexpected methods), fuzzing (25 positive and negative cases per operation) and stateful phases.
# `schemathesis.pytest.from_fixture` would report per operation, but it needs pytest's `Node._nodeid`, gone in 9.2.
def test_the_api_keeps_to_its_schema(api_schema):
    problems, answered, finished = [], set(), None
    for event in engine.from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            problems.extend(_failures(event.recorder))
            if any(interaction.response for interaction in event.recorder.interactions.values()):
                answered.add(event.label)
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            problems.append(f"schemathesis failed: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert not problems, "\n\n".join(problems)
    assert finished.stop_reason == StopReason.COMPLETED
    assert answered >= {result.ok().label for result in api_schema.get_all_operations()}
