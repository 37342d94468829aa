"""An SSH key is bound to a user only with proof that the user holds its private key, and only if it is strong.

So nobody can register someone else's public key first and lock its holder out of git.
"""

import time
from pathlib import Path
from unittest import mock

import pytest

from tests.api.conftest import client_for
from tests.factories import UserFactory
from tests.sshkeys import challenge, key_proof, ssh_key, ssh_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim():
    return client_for(UserFactory(username="victim"))


@pytest.fixture
def attacker():
    return client_for(UserFactory(username="attacker"))


def _fingerprints(api) -> list[str]:
    return [key["fingerprint"] for key in api.get("/api/keys/").json()]


@pytest.mark.parametrize(
    "kind, bits", [("ed25519", None), ("ecdsa", 256), ("ecdsa", 521), ("rsa", 2048), ("rsa", 3072)]
)
def test_a_key_proven_with_its_private_key_is_added(victim, tmp_path, kind, bits):
    response = victim.post("/api/keys/", key_proof(victim, ssh_key(tmp_path, "mine", kind, bits)), format="json")
    assert response.status_code == 201, response.json()
    assert _fingerprints(victim) == [response.json()["fingerprint"]]


def test_a_key_without_proof_is_refused(attacker, tmp_path):
    public_key = Path(f"{ssh_key(tmp_path, 'victims')}.pub").read_text()
    for body in ({"public_key": public_key}, {"public_key": public_key, "challenge": "", "signature": ""}):
        response = attacker.post("/api/keys/", body, format="json")
        assert response.status_code == 400 and "`paas keys add` makes it" in response.json()["error"]
    assert _fingerprints(attacker) == []


def test_someone_elses_public_key_signed_with_another_key_is_refused_and_its_holder_adds_it(victim, attacker, tmp_path):
    victims, attackers = ssh_key(tmp_path, "victims"), ssh_key(tmp_path, "attackers")
    claim = key_proof(attacker, attackers, public=Path(f"{victims}.pub"))
    response = attacker.post("/api/keys/", claim, format="json")
    assert response.status_code == 400
    assert "was signed with the key SHA256:" in response.json()["error"]
    assert "not with the key you are adding" in response.json()["error"]
    assert _fingerprints(attacker) == []
    assert victim.post("/api/keys/", key_proof(victim, victims), format="json").status_code == 201


def test_a_proof_made_for_another_user_is_refused(victim, attacker, tmp_path):
    victims = ssh_key(tmp_path, "victims")
    proof = key_proof(victim, victims)  # say, seen over the victim's shoulder: it names the victim
    response = attacker.post("/api/keys/", proof, format="json")
    assert response.status_code == 400 and "that challenge was given to another user" in response.json()["error"]


@pytest.mark.parametrize(
    "kind, bits, refusal",
    [("rsa", 1024, "this RSA key has 1024 bits; at least 2048 are needed"), ("dsa", None, "DSA keys are too weak")],
)
def test_weak_keys_are_refused_even_with_proof(victim, tmp_path, kind, bits, refusal):
    response = victim.post("/api/keys/", key_proof(victim, ssh_key(tmp_path, "weak", kind, bits)), format="json")
    assert response.status_code == 400
    assert refusal in response.json()["error"] and "ssh-keygen -t ed25519" in response.json()["error"]
    assert _fingerprints(victim) == []


def test_an_expired_challenge_is_refused(victim, tmp_path):
    with mock.patch("time.time", return_value=time.time() - 601):
        old = challenge(victim)
    mine = ssh_key(tmp_path, "mine")
    body = {"public_key": Path(f"{mine}.pub").read_text(), "challenge": old, "signature": ssh_sign(mine, old)}
    response = victim.post("/api/keys/", body, format="json")
    assert response.status_code == 400 and "the challenge has expired" in response.json()["error"]


@pytest.mark.parametrize(
    "forge",
    [
        lambda text: "999999" + text[text.index(":") :],  # another user's id, under the original seal
        lambda text: text[:-1] + ("B" if text.endswith("A") else "A"),  # a seal changed
        lambda text: "1:my-own-random-text",  # no seal at all
    ],
)
def test_a_forged_challenge_is_refused(victim, tmp_path, forge):
    mine = ssh_key(tmp_path, "mine")
    forged = forge(challenge(victim))
    body = {"public_key": Path(f"{mine}.pub").read_text(), "challenge": forged, "signature": ssh_sign(mine, forged)}
    response = victim.post("/api/keys/", body, format="json")
    assert response.status_code == 400 and "not made by this platform" in response.json()["error"]


@pytest.mark.parametrize(
    "sign, refusal",
    [
        (lambda key, text: ssh_sign(key, text, namespace="git"), "made for the namespace 'git', not 'paas-key'"),
        (lambda key, text: ssh_sign(key, text + "\n"), "it does not match the message"),
        (lambda key, text: "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----", "ends too soon"),
        (lambda key, text: "a signature", "not enclosed in -----BEGIN SSH SIGNATURE-----"),
    ],
)
def test_a_signature_that_is_not_of_the_challenge_in_paas_keys_namespace_is_refused(victim, tmp_path, sign, refusal):
    mine = ssh_key(tmp_path, "mine")
    text = challenge(victim)
    body = {"public_key": Path(f"{mine}.pub").read_text(), "challenge": text, "signature": sign(mine, text)}
    response = victim.post("/api/keys/", body, format="json")
    assert response.status_code == 400
    assert "the signature does not prove that you hold the key" in response.json()["error"]
    assert refusal in response.json()["error"]
