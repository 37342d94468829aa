import pytest

from buildpacks.models import Build, BuildState
from buildpacks.services import build_start
from tests.factories import make_app

pytestmark = pytest.mark.django_db


def _build(app, revision="a" * 40):
    return Build.objects.create(app=app, revision=revision, source_digest="sha256:" + "0" * 64)


def test_one_build_per_app_at_a_time():
    app, other = make_app("one"), make_app("other")
    first, second = _build(app), _build(app)
    assert build_start(build=first)
    assert not build_start(build=second)
    assert build_start(build=_build(other))
    Build.objects.filter(pk=first.pk).update(state=BuildState.SUCCEEDED)
    assert build_start(build=second)


def test_a_finished_build_does_not_start_again():
    build = _build(make_app())
    Build.objects.filter(pk=build.pk).update(state=BuildState.FAILED)
    assert not build_start(build=build)
