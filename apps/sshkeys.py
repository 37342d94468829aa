"""SSH public keys: their strength, and SSH signatures (SSHSIG, as `ssh-keygen -Y sign` makes them).

An SSH signature (OpenSSH's PROTOCOL.sshsig) is an armored blob: "SSHSIG", a version, the signer's public key, a
namespace, a reserved string, a hash algorithm, and the signer's SSH signature over "SSHSIG" + namespace + reserved +
hash algorithm + H(message) (each but the first an SSH string). asyncssh checks that inner signature.
"""

import base64
import binascii
import hashlib
import struct

import asyncssh

MIN_RSA_BITS = 2048
_ARMOR = ("-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----")
_MAGIC = b"SSHSIG"
_HASHES = ("sha256", "sha512")


class SignatureError(ValueError):
    """Not an SSH signature, or one that does not hold."""


class _Reader:
    """Reads SSH wire-format fields (RFC 4251) from bytes."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        if size > len(self.data) - self.offset:
            raise SignatureError("it ends too soon")
        self.offset += size
        return self.data[self.offset - size : self.offset]

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())

    def at_end(self) -> bool:
        return self.offset == len(self.data)


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def key_weakness(key: asyncssh.SSHKey) -> str:
    """Why `key` is too weak to accept, or "" when it is not: DSA keys, and RSA keys under MIN_RSA_BITS."""
    if key.algorithm == b"ssh-dss":
        return "DSA keys are too weak and no longer supported by OpenSSH"
    if key.algorithm == b"ssh-rsa":
        fields = _Reader(key.public_data)
        for _skipped in ("algorithm name", "public exponent"):
            fields.string()
        bits = int.from_bytes(fields.string(), "big").bit_length()  # the modulus
        if bits < MIN_RSA_BITS:
            return f"this RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed"
    return ""


def signature_verify(armored: str, *, message: bytes, namespace: str) -> asyncssh.SSHKey:
    """The public key that made `armored`, an SSH signature of `message` in `namespace`; SignatureError if it is not
    one, or does not verify."""
    public_blob, signed_namespace, reserved, hash_name, signature = _signature_fields(armored)
    if signed_namespace != namespace.encode():
        shown = signed_namespace.decode(errors="replace")
        raise SignatureError(f"it was made for the namespace {shown!r}, not {namespace!r}")
    if hash_name.decode(errors="replace") not in _HASHES:
        raise SignatureError(f"its hash algorithm is not one of {', '.join(_HASHES)}")
    if _Reader(signature).string() == b"ssh-rsa":
        raise SignatureError("it is an RSA signature over SHA-1; sign with ssh-keygen -Y sign, which uses SHA-512")
    key = _public_key(public_blob)
    digest = hashlib.new(hash_name.decode(), message).digest()
    signed = _MAGIC + _string(signed_namespace) + _string(reserved) + _string(hash_name) + _string(digest)
    if not _verifies(key, signed, signature):
        raise SignatureError("it does not match the message: it was made over other text, or is damaged")
    return key


def _signature_fields(armored: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(public key, namespace, reserved, hash algorithm, signature) of an armored SSHSIG version 1 signature."""
    fields = _Reader(_unarmor(armored))
    if fields.take(6) != _MAGIC or fields.uint32() != 1:
        raise SignatureError("it is not an SSHSIG version 1 signature")
    values = tuple(fields.string() for _ in range(5))
    if not fields.at_end():
        raise SignatureError("it has bytes after its end")
    return values


def _public_key(blob: bytes) -> asyncssh.SSHKey:
    try:
        key = asyncssh.import_public_key(b"%s %s" % (_Reader(blob).string(), base64.b64encode(blob)))
    except Exception as error:  # asyncssh raises many kinds of errors on a malformed key, not only KeyImportError
        raise SignatureError("its public key cannot be read") from error
    if not isinstance(key, asyncssh.SSHKey):  # a certificate
        raise SignatureError("it was made with a certificate; sign with the plain key")
    return key


def _verifies(key: asyncssh.SSHKey, data: bytes, signature: bytes) -> bool:
    try:
        return key.verify(data, signature)
    except Exception:  # a signature blob that the key's algorithm cannot even read
        return False


def _unarmor(armored: str) -> bytes:
    lines = [line.strip() for line in (armored or "").strip().splitlines()]
    if len(lines) < 3 or (lines[0], lines[-1]) != _ARMOR:
        raise SignatureError(f"it is not enclosed in {_ARMOR[0]} and {_ARMOR[1]}")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError("its body is not base64") from error
