"""The build container's file transfers, on a stand-in for Docker's container: streamed, and bounded."""

import tarfile

from hosts.engine import BuildContainer, tar_of_directory

MIB = 1024 * 1024


class RecordingContainer:
    """Stands in for docker's Container: records what was put in, serves chunks for what is taken out."""

    def __init__(self, chunks: int = 0):
        self.chunks = chunks
        self.served = 0
        self.closed = False
        self.put = []

    def put_archive(self, path, data):
        self.put.append((path, type(data), data.read(10)))
        return True

    def get_archive(self, path):
        def stream():
            try:
                for _ in range(self.chunks):
                    self.served += 1
                    yield b"\0" * MIB
            finally:
                self.closed = True

        return stream(), {"name": path.strip("/")}


def test_an_archive_goes_in_as_a_stream_from_its_file(tmp_path):
    archive = tmp_path / "source.tar"
    archive.write_bytes(b"tar data, read as it is sent")
    container = RecordingContainer()
    BuildContainer(container).put_archive("/app", archive)
    [(path, kind, start)] = container.put
    assert (path, start) == ("/app", b"tar data, ")
    assert hasattr(kind, "read") and kind is not bytes


def test_a_slug_over_the_cap_stops_the_transfer_and_leaves_no_file(tmp_path):
    container = RecordingContainer(chunks=100)
    slug = tmp_path / "slug.tar"
    assert not BuildContainer(container).get_archive("/app", slug, max_bytes=int(2.5 * MIB))
    assert container.served == 3 and container.closed  # no more is read than it takes to know
    assert not slug.exists()


def test_a_slug_within_the_cap_is_written_whole(tmp_path):
    container = RecordingContainer(chunks=2)
    slug = tmp_path / "slug.tar"
    assert BuildContainer(container).get_archive("/app", slug, max_bytes=2 * MIB)
    assert slug.stat().st_size == 2 * MIB


def test_the_build_kit_tar_is_written_to_a_file_readable_by_all_whatever_the_umask(tmp_path):
    kit = tmp_path / "kit"
    (kit / "buildpacks").mkdir(parents=True, mode=0o700)
    (kit / "builder").write_text("#!/bin/bash\n")
    (kit / "builder").chmod(0o600)
    target = tar_of_directory(kit, "paas-build", tmp_path / "kit.tar", executable=True)
    with tarfile.open(target) as tar:
        modes = {member.name: (member.mode, member.uid) for member in tar.getmembers()}
    assert modes == {
        "paas-build": (0o755, 0),
        "paas-build/buildpacks": (0o755, 0),
        "paas-build/builder": (0o755, 0),
    }


def test_a_dockerfile_build_that_runs_too_long_is_abandoned_even_while_it_prints(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import pytest

    from hosts import engine as engine_module
    from hosts.drivers.docker import Confinement
    from hosts.engine import DockerBuildEngine, ImageBuildError

    clock = iter(range(0, 10_000))  # each reading of the clock is a second later
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(engine_module, "instance_network", lambda client, instance: "paas-t3st")
    closed = []

    def build(**options):
        def printing_forever():
            try:
                while True:
                    yield {"stream": "tick\n"}
            finally:
                closed.append(True)

        return printing_forever()

    engine = DockerBuildEngine.__new__(DockerBuildEngine)  # a stand-in for the engine's API, no Docker
    engine.client, engine.instance = SimpleNamespace(api=SimpleNamespace(build=build)), "t3st"
    engine.confinement = Confinement("1g", 1, 256)
    context = tmp_path / "context.tar"
    tarfile.open(context, "w").close()
    printed = []
    with pytest.raises(ImageBuildError, match="ran for longer than 30s and was stopped"):
        engine.image_build(context, "paas-app/a:b", {}, printed.append, timeout=30)
    assert closed == [True] and 25 <= len(printed) <= 31  # it printed until its time was up, then was let go
