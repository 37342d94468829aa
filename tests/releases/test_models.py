import pytest
from django.db import IntegrityError

from paas.errors import ImmutableError
from releases.models import Release
from tests.factories import make_app, make_release

pytestmark = pytest.mark.django_db


def test_versions_count_up_per_app():
    first, second = make_app("first"), make_app("second")
    assert [make_release(first).version for _ in range(3)] == [1, 2, 3]
    assert make_release(second).version == 1


def test_a_saved_release_cannot_be_changed():
    release = make_release(make_app())
    release.processes = {"web": "something else"}
    with pytest.raises(ImmutableError):
        release.save()
    with pytest.raises(ImmutableError):
        Release.objects.filter(pk=release.pk).update(description="changed")
    assert Release.objects.get(pk=release.pk).processes == {"web": "python app.py"}


def test_two_releases_cannot_share_a_version():
    release = make_release(make_app())
    duplicate = Release(app=release.app, version=release.version, artifact=release.artifact)
    with pytest.raises(IntegrityError):
        duplicate.save()


def test_config_carries_over_to_the_next_release():
    app = make_app()
    make_release(app, config={"GREETING": "hi"})
    assert make_release(app).config == {"GREETING": "hi"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_releases_get_distinct_consecutive_versions():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    app = make_app()

    def one_release(_):
        try:
            return make_release(app).version
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(one_release, range(12)))
    assert sorted(versions) == list(range(1, 13))
