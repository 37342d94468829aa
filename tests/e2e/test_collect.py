"""The collection on real Docker: old runtime images go, the kept ones stay, and a rollback brings one back."""

import docker
import pytest

from tests.e2e.conftest import Platform, commit, eventually, ok
from tests.e2e.test_git_push_deploy import write_app

pytestmark = pytest.mark.e2e

APP = "collected"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A platform that keeps the images of 2 releases, and collects every 2 seconds."""
    docker.from_env().ping()
    running = Platform(tmp_path_factory.mktemp("platform"))
    running.env.update(PAAS_KEEP_RELEASES="2", PAAS_KEEP_SLUGS="20", PAAS_COLLECT_INTERVAL="2")
    running.start()
    try:
        yield running
    finally:
        running.cleanup()


def _app_images(platform, layers: bool = False) -> set[str]:
    """The app's runtime images (or, with `layers`, its dependency layer images) on the engine."""
    listed = docker.from_env().api.images(name=f"paas-app/{APP}")  # as listed, none inspected: the collection
    tags = (tag for image in listed for tag in image.get("RepoTags") or [])  # may remove one meanwhile
    mine = {tag for tag in tags if f":{platform.instance()}-" in tag}
    return {tag for tag in mine if (f":{platform.instance()}-layer-" in tag) == layers}


def test_old_images_are_collected_and_a_rollback_makes_one_again(logged_in):
    platform = logged_in
    source = platform.root / APP
    for version in range(1, 5):
        write_app(source, f"collected v{version}")
        commit(platform, source, f"v{version}")
        if version == 1:
            ok(platform.paas("create", APP, cwd=source))
        push = platform.git("push", "paas", "main", cwd=source)
        assert push.returncode == 0, push.stderr
        assert f"v{version} deployed" in push.stderr
    images = {release["version"]: release["image"] for release in platform.paas_json("releases", "-a", APP)}
    assert sorted(images) == [1, 2, 3, 4]
    kept = {images[3], images[4]}
    assert eventually(lambda: _app_images(platform) == kept, timeout=30), (_app_images(platform), platform.log())
    assert platform.curl(APP).startswith("collected v4 from job")
    assert len(_app_images(platform, layers=True)) == 1  # the requirements never changed: one dependency layer

    result = platform.paas("rollback", "1", "-a", APP)
    assert result.exit_code == 0, result.output + platform.log()
    assert "Rollback to v1: made v5" in result.output
    assert eventually(lambda: platform.curl(APP).startswith("collected v1 from job"), timeout=60), platform.curl(APP)
    restored = platform.paas_json("releases", "-a", APP)[0]
    assert restored["version"] == 5 and restored["image"] not in images.values()
    assert restored["image"] in _app_images(platform)
    # v5 (the restored image) and v4 are the last 2 releases: v3's image goes at the next collection.
    assert eventually(lambda: _app_images(platform) == {restored["image"], images[4]}, timeout=30), _app_images(
        platform
    )
