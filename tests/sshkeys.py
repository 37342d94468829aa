"""SSH keys for tests, made and signed with ssh-keygen as users make them; and the proof that adds one to the API."""

import subprocess
from pathlib import Path


def ssh_key(directory: Path, name: str, kind: str = "ed25519", bits: int | None = None) -> Path:
    """A new key pair without a passphrase: returns the private key's path (the public key is beside it, .pub)."""
    private = directory / name
    command = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@test", "-f", str(private)]
    subprocess.run(command + (["-b", str(bits)] if bits else []), check=True)
    return private


def ssh_sign(private: Path, text: str, namespace: str = "paas-key") -> str:
    """`text` signed by `private` with `ssh-keygen -Y sign`, as `paas keys add` signs a challenge."""
    message = private.parent / f"{private.name}.challenge"
    message.write_text(text)
    Path(f"{message}.sig").unlink(missing_ok=True)  # ssh-keygen would ask before overwriting it
    command = ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(private), str(message)]
    subprocess.run(command, check=True, capture_output=True)
    return Path(f"{message}.sig").read_text()


def challenge(api) -> str:
    """A fresh challenge from the platform, for the user `api` authenticates as."""
    response = api.post("/api/keys/challenge/", format="json")
    assert response.status_code == 201, response.content
    return response.json()["challenge"]


def key_proof(api, private: Path, *, public: Path | None = None) -> dict:
    """The body of POST /api/keys/ that adds `public` (default: the .pub beside `private`), signed by `private`."""
    text = challenge(api)
    public_key = (public or Path(f"{private}.pub")).read_text()
    return {"public_key": public_key, "challenge": text, "signature": ssh_sign(private, text)}
