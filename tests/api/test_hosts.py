import pytest

pytestmark = pytest.mark.django_db


def test_hosts_are_for_operators_only(api, user):
    assert api.get("/api/hosts/").status_code == 403
    user.is_staff = True
    user.save()
    assert api.get("/api/hosts/").status_code == 200
