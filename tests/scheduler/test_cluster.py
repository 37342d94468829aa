"""Past one machine, with the in-memory driver: hosts that go down, agents' heartbeats, one job per formation slot,
the scheduler lease, and what crosses to an agent (calls, slugs)."""

import asyncio
import hashlib
import http.server
import io
import json
import tarfile
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from artifacts.blobstore import blob_exists, blob_fetch, blob_put_file, blob_url
from artifacts.services import artifact_create
from buildpacks.pipeline import _archive_check
from formations.services import formation_deploy, formation_scale
from hosts.drivers import CheckResult, ImageSource, JobContainer, JobSpec
from hosts.drivers.memory import MemoryHostDriver
from hosts.engine import MemoryBuildEngine
from hosts.logship import _batch_write
from hosts.models import Host, HostState
from hosts.rpc import decode, encode
from paas.errors import InvalidInput
from releases.services import release_create
from scheduler import router, services
from scheduler.lease import lease_hold, lease_release
from scheduler.models import Job, JobState, SchedulerLease
from scheduler.services import job_spec, reconcile
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


def _settle(passes: int = 3) -> None:
    for _ in range(passes):
        reconcile()


def _second_host(agent: bool = False) -> MemoryHostDriver:
    Host.objects.create(
        name="second", docker_url="memory://second", address="10.0.0.2", agent=agent, heartbeat_at=timezone.now()
    )
    return MemoryHostDriver.for_host("second")


def _silent(name: str, settings) -> None:
    """The host has not been heard from for longer than the down period."""
    since = timezone.now() - timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER + 1)
    Host.objects.filter(name=name).update(heartbeat_at=since)


def _up_jobs_per_host(app) -> Counter:
    return Counter(Job.objects.filter(app=app, state=JobState.UP).values_list("host__name", flat=True))


def _running(driver) -> set[str]:
    return {container.container_id for container in driver.containers.values() if container.running}


def test_the_jobs_of_an_agents_host_that_went_silent_start_elsewhere_and_its_copies_go_when_it_returns(
    driver, settings
):
    second = _second_host(agent=True)
    app = make_app()
    deploy(app)
    formation_scale(app=app, counts={"web": 4}, actor=app.owner)
    _settle()
    assert _up_jobs_per_host(app) == {"local": 2, "second": 2}
    second.failing.add("job_containers")
    _silent("second", settings)
    _settle()
    assert Host.objects.get(name="second").state == HostState.DOWN
    assert _up_jobs_per_host(app) == {"local": 4}
    upstreams = router.MemoryRouter.table.upstreams()["myapp.localhost"]
    assert len(upstreams) == 4 and all(upstream.startswith("127.0.0.1:") for upstream in upstreams)
    assert len(_running(second)) == 2  # still running there, out of reach
    second.failing.clear()
    Host.objects.filter(name="second").update(state=HostState.UP, heartbeat_at=timezone.now())  # a heartbeat
    _settle()
    assert _running(second) == set()  # the lost jobs' copies are stopped: no more copies than the formation's
    assert _up_jobs_per_host(app) == {"local": 4}


def test_an_agents_host_is_down_once_its_heartbeats_stop_even_if_its_engine_answers(driver, settings):
    second = _second_host(agent=True)
    app = make_app()
    deploy(app)
    formation_scale(app=app, counts={"web": 2}, actor=app.owner)
    _settle()
    assert _up_jobs_per_host(app) == {"local": 1, "second": 1}
    assert Host.objects.get(name="second").state == HostState.UP  # its heartbeats are its agent's to send
    _silent("second", settings)
    _settle()
    assert Host.objects.get(name="second").state == HostState.DOWN
    assert _up_jobs_per_host(app) == {"local": 2}
    lost = Job.objects.get(app=app, host__name="second")
    assert lost.state == JobState.STOPPED and lost.error == "lost with host second, which is down"
    Host.objects.filter(name="second").update(state=HostState.UP, heartbeat_at=timezone.now())  # a heartbeat
    _settle()
    assert _running(second) == set()


def test_a_job_placed_on_an_agents_host_carries_how_to_make_its_image_there(driver):
    second = _second_host(agent=True)
    app = make_app()
    slug = "sha256:" + "5" * 64
    artifact = artifact_create(app=app, image="paas-app/myapp:x-build-1", image_id="sha256:1", slug_digest=slug)
    release = release_create(app=app, artifact=artifact, processes={"web": "serve"}, actor=app.owner)
    formation_deploy(app=app, release=release, actor=app.owner)
    formation_scale(app=app, counts={"web": 2}, actor=app.owner)
    reconcile()
    assert _up_jobs_per_host(app) == {"local": 1, "second": 1}
    (on_local,) = driver.specs.values()
    assert on_local.image_source is None  # a host the controller drives has the builds' images
    (on_second,) = second.specs.values()
    source = on_second.image_source
    assert source.slug_digest == slug and source.app == "myapp" and set(source.urls) == {slug}
    assert f"/internal/blobs/{slug}?s=" in source.urls[slug]


def test_a_formation_slot_holds_one_active_job_and_a_deploy_supersedes_the_old_one(driver):
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.get(app=app)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(app=app, release=job.release, process_type="web", index=1)
    deploy(app)  # v2: its job fills the slot, v1's serves until it is up
    reconcile()
    old, new = Job.objects.filter(app=app).order_by("pk")
    assert old.superseded and not new.superseded
    _settle()
    assert Job.objects.get(app=app, state=JobState.UP).pk == new.pk


def test_one_controller_at_a_time_holds_the_scheduler_lease_and_another_takes_it_once_it_lapses():
    assert lease_hold("first")
    assert lease_hold("first")  # renewed
    assert not lease_hold("second")
    SchedulerLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # the first died
    assert lease_hold("second")
    assert not lease_hold("first")
    lease_release("second")  # stopping: hands over at once
    assert lease_hold("first")
    assert SchedulerLease.objects.get().term == 3


def test_driver_values_cross_to_an_agent_and_back_as_they_were():
    spec = JobSpec(
        job_id=3,
        name="paas-x-web.1-3",
        app="shop",
        process_type="web",
        image="paas-app/shop:x-build-1",
        command="serve",
        env={"PORT": "5000"},
        port=5000,
        links=("db",),
        image_source=ImageSource(app="shop", build_id=1, slug_digest="sha256:" + "a" * 64, urls={"k": "u"}),
    )
    containers = {3: JobContainer(3, "c3", True, host_port=32768, private_address=("10.0.0.5", 5000))}
    for value in (spec, containers, CheckResult(True, "200 OK in 3 ms", True), [1, "x"], None):
        assert decode(encode(value)) == value


def test_a_docker_image_travels_as_its_archive_at_a_url_the_controller_signed(driver, client, settings):
    settings.PAAS_CONTROLLER_URL = "http://controller.internal:8000"
    _second_host(agent=True)
    app = make_app()
    image = "paas-app/myapp:x-image-1"
    MemoryBuildEngine.images[image] = {}
    image_id = MemoryBuildEngine().image_id(image)
    release = release_create(
        app=app, artifact=artifact_create(app=app, image=image, image_id=image_id), processes={"web": ""}, actor=None
    )
    formation_deploy(app=app, release=release, actor=app.owner)
    reconcile()
    job = Job.objects.get(app=app)
    Job.objects.filter(pk=job.pk).update(host=Host.objects.get(name="second"))
    source = job_spec(Job.objects.get(pk=job.pk)).image_source
    assert source.image_id == image_id and not source.slug_digest
    assert source.archive_url.startswith(f"http://controller.internal:8000/internal/images/{release.artifact.pk}?s=")
    path = source.archive_url.removeprefix(settings.PAAS_CONTROLLER_URL)
    assert _body(client.get(path)) == f"archive of {image}".encode()
    assert client.get(path.replace("?s=", "?s=0")).status_code == 403


def _body(response) -> bytes:
    """A streamed response's body (streamed asynchronously, as the server sends it)."""

    async def chunks() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return asyncio.run(chunks())


def test_a_blob_is_served_only_at_a_url_the_controller_signed(client, tmp_path):
    source = tmp_path / "slug.tgz"
    source.write_bytes(b"slug bytes")
    digest, _ = blob_put_file(source)
    url = blob_url(digest)
    path = url[url.index("/internal/") :]
    assert _body(client.get(path)) == b"slug bytes"
    assert client.get(path[:-2] + "xx").status_code == 403
    assert client.get(f"/internal/blobs/{digest}").status_code == 403
    assert client.post(path).status_code == 405


class _Serving(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_an_agent_keeps_a_fetched_blob_only_when_it_matches_its_digest(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    _Serving.body = b"the slug"
    server = http.server.HTTPServer(("127.0.0.1", 0), _Serving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/blob"
    try:
        wrong = "sha256:" + hashlib.sha256(b"another slug").hexdigest()
        with pytest.raises(InvalidInput, match="refused"):
            blob_fetch(wrong, url)
        assert not blob_exists(wrong)
        right = "sha256:" + hashlib.sha256(b"the slug").hexdigest()
        assert blob_fetch(right, url).read_bytes() == b"the slug"
    finally:
        server.shutdown()


@pytest.mark.django_db(transaction=True)  # the loop writes from its own thread
def test_a_controller_without_the_lease_runs_no_pass_until_it_lapses(monkeypatch, settings):
    from scheduler import loop

    settings.PAAS_SCHEDULER_LEASE = 0.4
    passes, refreshes = [], []
    monkeypatch.setattr(loop, "reconcile", lambda: passes.append(1))
    monkeypatch.setattr(loop, "router_refresh", lambda: refreshes.append(1))
    monkeypatch.setattr(loop.SchedulerLoop, "collect_when_due", lambda self: None)
    assert lease_hold("another controller")
    scheduler = loop.SchedulerLoop(interval=0.05)
    scheduler.start()
    try:
        time.sleep(0.2)
        assert passes == [] and refreshes  # it keeps its own router current meanwhile
        assert _eventually(lambda: passes, timeout=5)  # the other one's lease lapsed: this one took it
        assert SchedulerLease.objects.get().holder == scheduler.holder
    finally:
        scheduler.stop()
    assert SchedulerLease.objects.get().expires_at <= timezone.now()  # let go on the way out


def _eventually(check, timeout: float):
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_a_due_job_another_scheduler_changed_since_this_pass_read_it_is_not_started_twice(driver):
    app = make_app()
    deploy(app)
    job = Job.objects.create(app=app, release=app.releases.get(), process_type="web", index=1)
    read = Job.objects.get(pk=job.pk)
    assert services._job_claimed(Job.objects.get(pk=job.pk), Host.objects.get(name="local"))
    assert not services._job_claimed(read, Host.objects.get(name="local"))  # as read before that claim


def _archive(path, manifest) -> None:
    with tarfile.open(path, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_an_image_archive_is_loaded_only_if_it_holds_the_releases_image_alone(tmp_path):
    image, image_id = "paas-app/shop:x-image-1", "sha256:" + "c" * 64
    good = {"Config": "c" * 64 + ".json", "RepoTags": [image], "Layers": []}
    _archive(tmp_path / "good.tar", [good])
    _archive_check(tmp_path / "good.tar", image, image_id)
    for name, manifest in {
        "retags": [{**good, "RepoTags": [image, "paas/stack:latest"]}],
        "another": [{**good, "Config": "d" * 64 + ".json"}],
        "two": [good, good],
    }.items():
        _archive(tmp_path / f"{name}.tar", manifest)
        with pytest.raises(ValueError, match="archive fetched"):
            _archive_check(tmp_path / f"{name}.tar", image, image_id)
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(ValueError, match="not an image archive"):
        _archive_check(tmp_path / "junk.tar", image, image_id)


def test_log_lines_an_agent_sends_reach_only_the_log_of_an_app_that_exists(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    make_app("shop")
    _batch_write({"app": "../../etc/x", "entries": [[1.0, "web.1 v1 stdout", "escape"]]})
    _batch_write({"app": "nosuchapp", "entries": [[1.0, "web.1 v1 stdout", "nobody"]]})
    _batch_write({"app": "shop", "entries": [[1.0, "web.1 v1 stdout", "hello"]]})
    assert [path.name for path in (tmp_path / "logs").iterdir()] == ["shop.log"]
    assert "web.1 v1 stdout: hello" in (tmp_path / "logs" / "shop.log").read_text()


def test_each_controllers_router_log_keeps_its_own_offset_in_the_shared_data_directory(settings, tmp_path):
    from scheduler.traffic import OFFSET_FILE, _offset_path

    settings.DATA_DIR = tmp_path
    assert _offset_path(tmp_path / "router" / "access.log") == tmp_path / OFFSET_FILE
    second, third = _offset_path(tmp_path / "c2" / "access.log"), _offset_path(tmp_path / "c3" / "access.log")
    assert len({second, third, tmp_path / OFFSET_FILE}) == 3 and second.parent == tmp_path
