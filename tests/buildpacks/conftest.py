"""What the build pipeline's tests share: the in-memory build engine, and pushes built as a build worker does."""

import io
import tarfile

import pytest

from buildpacks import services
from buildpacks.models import Build
from buildpacks.pipeline import build_execute
from buildpacks.services import build_create, build_start
from hosts.engine import MemoryBuildEngine


@pytest.fixture
def engine(monkeypatch):
    """The in-memory build engine, emptied before and after; builds are run here, not queued."""
    monkeypatch.setattr(services, "build_enqueue", lambda build_id: None)
    MemoryBuildEngine.reset()
    yield MemoryBuildEngine
    MemoryBuildEngine.reset()


@pytest.fixture
def push(tmp_path):
    """Pushes `files` to `app` as git would hand them over (a tar of the tree), and runs the build, as a build
    worker does; returns the build, reloaded."""
    pushes = iter(range(1, 1000))

    def push(app, files: dict[str, bytes]) -> Build:
        number = next(pushes)
        source = tmp_path / f"source-{number}.tar"
        with tarfile.open(source, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        build = build_create(app=app, actor=app.owner, revision=f"{number:x}" * 40, source_path=source)
        assert build_start(build=build)
        build_execute(build)
        return Build.objects.select_related("release__artifact").get(pk=build.pk)

    return push
