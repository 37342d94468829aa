"""The whole build pipeline (source, detect, compile, release, deploy, and how each fails) on the in-memory build
engine: no Docker, and no stand-ins for the pipeline's own steps."""

import io
import logging
import tarfile

import pytest
from django.conf import settings

from artifacts.blobstore import blob_path
from artifacts.models import Artifact, ArtifactKind
from buildpacks.models import Build, BuildState
from buildpacks.services import build_fail, cache_volume_name
from buildpacks.stack import stack_image
from formations.selectors import formation_get
from formations.services import config_update
from hosts.engine import MemoryBuildEngine, MemoryBuildTimeout
from releases.models import Release
from scheduler.models import Job
from scheduler.services import reconcile
from tests.factories import deploy, make_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("engine")]

PYTHON_APP = {
    "requirements.txt": b"flask\n",
    "app.py": b"print('hello')\n",
    "Procfile": b"web: gunicorn app:app\nworker: python worker.py\n",
}


@pytest.fixture
def serving():
    """An app with v1 deployed (web: serve): what a failed build must leave running."""
    app = make_app("myapp")
    deploy(app, processes={"web": "serve"})
    return app


def _recording(builder, seen: list):
    """`builder`, recording what each build it plays was given."""

    def recorded(files, env, env_dir, on_output):
        seen.append({"files": files, "env": env, "env_dir": env_dir})
        return builder(files, env, env_dir, on_output)

    return recorded


def _unchanged(app, build: Build) -> None:
    """The build failed, saying why as its log's last line, and nothing that runs changed: v1 is still the only
    release, and current."""
    assert build.log.endswith(f" !     {build.error}\n")
    _nothing_deployed(app, build)


def _nothing_deployed(app, build: Build) -> None:
    assert build.state == BuildState.FAILED and build.release is None and build.finished_at
    assert list(Release.objects.filter(app=app).values_list("version", flat=True)) == [1]
    formation = formation_get(app=app)
    assert formation.release.version == 1 and formation.releasing is None
    assert formation.counts == {"web": 1}


# Buildpack builds


def test_a_buildpack_build_releases_deploys_and_starts_its_slug(push, engine, driver):
    app = make_app("myapp")
    build = push(app, PYTHON_APP)

    assert build.state == BuildState.SUCCEEDED and build.error == ""
    assert build.log.startswith(f"-----> Building myapp from {build.revision[:7]}\n")
    detected = build.log.index("-----> Python app detected\n")
    assert build.log.index("-----> Installing requirements with pip\n") > detected
    assert "       Procfile declares types -> web, worker\n" in build.log
    assert build.log.index("-----> Storing the slug\n") > detected
    assert build.log.endswith("-----> Released v1\n")

    release = build.release
    assert release.version == 1 and release.description == f"Deploy {build.revision[:7]}"
    assert release.processes == {"web": "gunicorn app:app", "worker": "python worker.py"}
    artifact = release.artifact
    assert artifact.kind == ArtifactKind.SLUG and artifact.revision == build.revision
    assert artifact.image == f"paas-app/myapp:{settings.PAAS_INSTANCE}-build-{build.pk}"
    assert artifact.image_id == engine().image_id(artifact.image)

    slug = blob_path(artifact.slug_digest).read_bytes()
    assert artifact.slug_size == len(slug)
    with tarfile.open(fileobj=io.BytesIO(slug)) as tar:
        assert tar.extractfile("app/Procfile").read() == PYTHON_APP["Procfile"]
        assert tar.extractfile("app/.release").read() == b"---\ndefault_process_types: {}\n"
        assert tar.getmember("app").isdir()
    # The runtime image: the stack image plus the slug at /, committed with the launcher as its entrypoint.
    [(reference, archives)] = engine.commits
    assert reference == artifact.image and archives == [("/", slug)]
    assert engine.images[reference]["Entrypoint"] == ["/usr/local/bin/paas-launch"]
    assert engine.images[reference]["Labels"] == {"paas.app": "myapp", "paas.source-build": str(build.pk)}

    # The build ran in the stack image, with the app's build cache, handing /app and /cache to the app user;
    # every container it made is gone.
    compiling, committing = engine.containers
    assert compiling.image == committing.image == stack_image()
    assert compiling.command == ["/bin/bash", "/paas-build/builder"] and compiling.build_id == build.pk
    assert compiling.binds[cache_volume_name("myapp")] == {"bind": "/cache", "mode": "rw"}
    assert compiling.handover == ("/app", "/cache")
    assert compiling.files("/app") == PYTHON_APP
    assert {"builder", "order", "buildpacks/python/bin/compile"} <= set(compiling.files("/paas-build"))
    assert compiling.removed and committing.removed and engine.build_containers == {}

    formation = formation_get(app=app)
    assert formation.release == release and formation.releasing is None
    assert formation.counts == {"web": 1}  # a first deploy with a web process gets one
    reconcile()
    [job] = Job.objects.filter(app=app)
    assert (job.process_type, job.release) == ("web", release)
    assert driver.specs[job.container_id].image == artifact.image


def test_the_build_sees_the_apps_config_vars_in_its_env_dir(push, engine):
    app = make_app("myapp")
    config_update(app=app, changes={"GREETING": "hello world", "DATABASE_URL": "postgres://db/app"}, actor=app.owner)
    seen = []
    engine.builder = _recording(MemoryBuildEngine().default_builder, seen)
    build = push(app, PYTHON_APP)
    assert build.state == BuildState.SUCCEEDED and build.log.endswith("-----> Released v2\n")
    [build_input] = seen
    assert build_input["env_dir"] == {"GREETING": "hello world", "DATABASE_URL": "postgres://db/app"}
    assert build_input["env"]["STACK"] == "paas-bookworm" and build_input["env"]["HOME"] == "/app"
    assert build_input["files"] == PYTHON_APP
    assert build.release.config == {"GREETING": "hello world", "DATABASE_URL": "postgres://db/app"}


def test_the_buildpacks_default_process_types_are_kept_unless_the_procfile_overrides_them(push, engine):
    def builder(files, env, env_dir, on_output):
        on_output("-----> Node.js app detected\n")
        release = b"---\ndefault_process_types:\n  web: npm start\n  clock: node clock.js\n"
        return 0, {**files, ".release": release}

    engine.builder = builder
    build = push(make_app("myapp"), {"package.json": b"{}", "Procfile": b"clock: node better-clock.js\n"})
    assert build.state == BuildState.SUCCEEDED
    assert build.release.processes == {"web": "npm start", "clock": "node better-clock.js"}


def test_a_buildpack_that_exits_non_zero_fails_the_build_and_deploys_nothing(push, engine, serving):
    def builder(files, env, env_dir, on_output):
        on_output("-----> Python app detected\n")
        on_output(" !     pip could not find a version that satisfies the requirement flsk\n")
        return 1, {}

    engine.builder = builder
    build = push(serving, PYTHON_APP)
    assert build.error == "Build failed: the buildpack exited with status 1; see the output above"
    assert "pip could not find a version that satisfies the requirement flsk" in build.log
    _unchanged(serving, build)
    assert engine.commits == [] and not Artifact.objects.filter(slug_digest__gt="").exists()


def test_an_app_no_buildpack_recognises_fails_saying_what_was_looked_for(push, serving):
    build = push(serving, {"README.md": b"# my app\n"})
    assert build.error.startswith("No buildpack recognised this app. Looked for: requirements.txt, pyproject.toml")
    assert "package.json (Node.js)" in build.error and "a Procfile (any other app)" in build.error
    assert "Add one of these at the top of the repository" in build.error
    _unchanged(serving, build)


def test_a_build_that_runs_out_of_time_is_stopped_and_fails(push, engine, serving, settings):
    settings.PAAS_BUILD_TIMEOUT = 90

    def builder(files, env, env_dir, on_output):
        on_output("-----> Python app detected\n")
        raise MemoryBuildTimeout

    engine.builder = builder
    build = push(serving, PYTHON_APP)
    assert build.error == "Build timed out after 90s and was stopped"
    assert engine.containers[0].timed_out
    _unchanged(serving, build)


def test_a_slug_over_the_limit_fails_the_build_and_stores_nothing(push, engine, serving, settings):
    settings.PAAS_SLUG_MAX_BYTES = 64 * 1024
    build = push(serving, {**PYTHON_APP, "model.bin": b"\0" * (100 * 1024)})
    assert build.error.startswith("Build failed: the slug is larger than 64 KiB, the most this platform stores")
    assert "ask the operator to raise PAAS_SLUG_MAX_BYTES" in build.error
    _unchanged(serving, build)
    assert engine.commits == [] and not Artifact.objects.filter(slug_digest__gt="").exists()


def test_a_procfile_with_too_many_process_types_fails_saying_so(push, serving, settings):
    settings.PAAS_QUOTA_PROCESS_TYPES = 20
    procfile = "".join(f"worker{number}: python work.py {number}\n" for number in range(300))
    build = push(serving, {"Procfile": procfile.encode()})
    assert build.error == (
        "300 process types, over the limit of 20 in one release (PAAS_QUOTA_PROCESS_TYPES); "
        "declare fewer in the Procfile"
    )
    _unchanged(serving, build)


def test_an_internal_error_tells_the_pusher_nothing_but_the_platforms_log_everything(push, engine, serving, caplog):
    def builder(files, env, env_dir, on_output):
        raise RuntimeError("could not reach postgres://admin:hunter2@10.0.0.5/paas")

    engine.builder = builder
    with caplog.at_level(logging.ERROR, logger="paas.builds"):
        build = push(serving, PYTHON_APP)
    assert build.error == (f"internal error while building; the platform's log has the details (build {build.pk})")
    assert "hunter2" not in build.log and "10.0.0.5" not in build.log
    assert "hunter2" in caplog.text and f"build {build.pk} failed" in caplog.text
    _unchanged(serving, build)


def test_a_release_phase_waits_for_its_release_command_before_the_formation_moves(push, serving):
    build = push(serving, {**PYTHON_APP, "Procfile": b"web: gunicorn app:app\nrelease: python manage.py migrate\n"})
    assert build.state == BuildState.SUCCEEDED and build.log.endswith("-----> Released v2\n")
    formation = formation_get(app=serving)
    assert formation.releasing == build.release and build.release.version == 2
    assert formation.release.version == 1  # not yet: the scheduler runs the release command first


STALE = "this build did not finish within 960s and was marked failed; push again"


@pytest.fixture
def failed_meanwhile(engine, serving):
    """Builds are marked failed while they run (stale, as the scheduler marks them, or the platform stopping)."""

    def builder(files, env, env_dir, on_output):
        build_fail(build=Build.objects.get(app=serving, state=BuildState.BUILDING), error=STALE)
        return MemoryBuildEngine().default_builder(files, env, env_dir, on_output)

    engine.builder = builder


def test_a_build_failed_meanwhile_keeps_its_outcome_and_deploys_nothing(push, serving, failed_meanwhile):
    build = push(serving, PYTHON_APP)
    assert build.error == STALE and f" !     {STALE}\n" in build.log
    assert "-----> Released" not in build.log
    _nothing_deployed(serving, build)


def test_a_build_failed_meanwhile_has_its_failure_as_its_logs_last_line(push, serving, failed_meanwhile):
    build = push(serving, PYTHON_APP)
    assert build.log.endswith(f" !     {STALE}\n")


# Dockerfile builds

DOCKERFILE_APP = {
    "Dockerfile": b'FROM paas/stack\nCOPY . /app\nEXPOSE 8000\nCMD ["python3", "-m", "http.server", "8000"]\n',
    "index.html": b"<h1>hi</h1>\n",
}


def test_a_dockerfile_build_makes_an_image_artifact_whose_cmd_is_the_web_process(push, engine, driver):
    app = make_app("myapp")
    build = push(app, DOCKERFILE_APP)
    assert build.state == BuildState.SUCCEEDED, build.error
    assert "-----> Dockerfile found: building it\n" in build.log
    assert "       Step 1/4 : FROM paas/stack\n" in build.log and "       Step 4/4 : CMD" in build.log
    assert "       Web process listens on port 8000\n" in build.log
    assert build.log.endswith("-----> Released v1\n")
    release = build.release
    assert release.processes == {"web": ""}
    artifact = release.artifact
    assert artifact.kind == ArtifactKind.IMAGE and artifact.slug_digest == "" and artifact.slug_size is None
    assert artifact.port == 8000
    assert artifact.image == f"paas-app/myapp:{settings.PAAS_INSTANCE}-build-{build.pk}"
    assert engine.images[artifact.image]["Labels"] == {"paas.app": "myapp", "paas.source-build": str(build.pk)}
    assert "paas/stack:latest" in engine.images  # `FROM paas/stack` names the current stack image
    assert engine.commits == [] and engine.containers == []  # no buildpacks, no slug
    assert formation_get(app=app).release == release
    reconcile()
    [job] = Job.objects.filter(app=app)
    assert job.process_type == "web" and driver.specs[job.container_id].image == artifact.image


def test_a_dockerfile_with_a_procfile_takes_its_process_types_too(push):
    build = push(make_app("myapp"), {**DOCKERFILE_APP, "Procfile": b"worker: python3 work.py\n"})
    assert build.state == BuildState.SUCCEEDED, build.error
    assert build.release.processes == {"web": "", "worker": "python3 work.py"}


def test_a_dockerfile_from_an_image_the_engine_lacks_fails_before_building(push, engine, serving):
    build = push(serving, {"Dockerfile": b"FROM python:3.12-slim\nCMD python3 app.py\n"})
    assert build.error.startswith(
        "The Dockerfile builds FROM python:3.12-slim, which this platform's Docker engine does not have"
    )
    assert "Build FROM paas/stack" in build.error
    assert "Step 1/" not in build.log  # it never started
    _unchanged(serving, build)


@pytest.mark.parametrize(
    "dockerfile",
    [
        b"FROM paas-app/victim:abc-build-41\nCMD true\n",
        b"FROM paas/stack\nCOPY --from=paas-app/victim:abc-build-41 /app /stolen\nCMD true\n",
        b"FROM sha256:" + b"a" * 64 + b"\nCMD true\n",
    ],
)
def test_a_dockerfile_may_not_use_another_apps_image_nor_an_image_id(push, engine, serving, dockerfile):
    engine.images["paas-app/victim:abc-build-41"] = {"Cmd": ["serve"]}  # on the engine: only the rule stops it
    engine.images["sha256:" + "a" * 64] = {"Cmd": ["serve"]}
    build = push(serving, {"Dockerfile": dockerfile})
    assert "an image this platform made for an app, or an image id" in build.error
    assert "Step 1/" not in build.log
    _unchanged(serving, build)


def test_a_dockerfile_from_an_image_the_engine_has_builds(push, engine):
    engine.images["python:3.12-slim"] = {"Cmd": ["python3"], "ExposedPorts": {"5000/tcp": {}}}
    build = push(make_app("myapp"), {"Dockerfile": b"FROM python:3.12-slim\nCOPY . /app\n"})
    assert build.state == BuildState.SUCCEEDED, build.error
    assert build.release.processes == {"web": ""} and build.release.artifact.port == 5000  # inherited


def test_a_failing_dockerfile_step_fails_the_build(push, engine, serving):
    build = push(serving, {"Dockerfile": b"FROM paas/stack\nRUN false\nCMD serve\n"})
    assert build.error == "The Dockerfile build failed: The command '/bin/sh -c false' returned a non-zero code: 1"
    assert "       Step 2/3 : RUN false\n" in build.log and "Step 3/3" not in build.log
    _unchanged(serving, build)
    assert not Artifact.objects.filter(app=serving, revision=build.revision).exists()
