import pytest

from tests.sshkeys import key_proof, ssh_key

pytestmark = pytest.mark.django_db


def test_keys_add_list_remove(api, tmp_path):
    added = api.post("/api/keys/", key_proof(api, ssh_key(tmp_path, "laptop")), format="json")
    assert added.status_code == 201
    assert added.json()["comment"] == "laptop@test"
    fingerprint = added.json()["fingerprint"]
    assert [key["fingerprint"] for key in api.get("/api/keys/").json()] == [fingerprint]
    assert api.delete(f"/api/keys/{fingerprint}/").status_code == 204
    assert api.get("/api/keys/").json() == []
    actions = [event["action"] for event in api.get("/api/events/").json()]
    assert actions == ["key.remove", "key.add"]


def test_a_challenge_says_what_to_sign_and_for_how_long(api):
    response = api.post("/api/keys/challenge/", format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["namespace"] == "paas-key" and body["expires_in"] == 600
    assert body["challenge"] != api.post("/api/keys/challenge/", format="json").json()["challenge"]


def test_a_key_without_proof_is_400_saying_how_to_add_it(api, tmp_path):
    ssh_key(tmp_path, "laptop")
    response = api.post("/api/keys/", {"public_key": (tmp_path / "laptop.pub").read_text()}, format="json")
    assert response.status_code == 400
    assert "proof that you hold its private key; `paas keys add` makes it" in response.json()["error"]
    assert api.get("/api/keys/").json() == []


def test_a_bad_key_is_400(api):
    response = api.post("/api/keys/", {"public_key": "hello", "challenge": "x", "signature": "y"}, format="json")
    assert response.status_code == 400 and "not a valid SSH public key" in response.json()["error"]


def test_removing_an_unknown_key_is_404(api):
    response = api.delete("/api/keys/SHA256:nope/")
    assert response.status_code == 404 and "paas keys" in response.json()["error"]
