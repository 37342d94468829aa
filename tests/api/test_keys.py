import asyncssh
import pytest

pytestmark = pytest.mark.django_db


def test_keys_add_list_remove(api):
    public = asyncssh.generate_private_key("ssh-ed25519", comment="laptop").export_public_key().decode()
    added = api.post("/api/keys/", {"public_key": public}, format="json")
    assert added.status_code == 201
    fingerprint = added.json()["fingerprint"]
    assert [key["fingerprint"] for key in api.get("/api/keys/").json()] == [fingerprint]
    assert api.delete(f"/api/keys/{fingerprint}/").status_code == 204
    assert api.get("/api/keys/").json() == []
    actions = [event["action"] for event in api.get("/api/events/").json()]
    assert actions == ["key.remove", "key.add"]


def test_a_bad_key_is_400(api):
    response = api.post("/api/keys/", {"public_key": "hello"}, format="json")
    assert response.status_code == 400 and "not a valid SSH public key" in response.json()["error"]


def test_removing_an_unknown_key_is_404(api):
    response = api.delete("/api/keys/SHA256:nope/")
    assert response.status_code == 404 and "paas keys" in response.json()["error"]
