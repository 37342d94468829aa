"""A content-addressed blob store for slugs, pushed sources and add-ons' backups, checksummed with SHA-256."""

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from paas.errors import InvalidInput, NotFound

_CHUNK = 1024 * 1024


def _root() -> Path:
    return Path(settings.DATA_DIR) / "blobs" / "sha256"


def _path(digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
        raise InvalidInput(f"{digest!r} is not a sha256 blob digest")
    return _root() / hexdigest[:2] / hexdigest


def blob_put_file(source: Path) -> tuple[str, int]:
    """Stores a copy of the file at `source`; returns its digest and size. Storing twice is a no-op."""
    with open(source, "rb") as reader:
        return blob_put_stream(reader)


def blob_put_stream(reader) -> tuple[str, int]:
    """Stores what `reader` (anything with `read(size)`: a file, a request's body) gives until it ends; returns its
    digest and size."""
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=root, delete=False) as writer:
        try:
            while chunk := reader.read(_CHUNK):
                sha.update(chunk)
                writer.write(chunk)
                size += len(chunk)
        except BaseException:  # a full disk, say: leave no partial copy behind
            Path(writer.name).unlink(missing_ok=True)
            raise
    digest = f"sha256:{sha.hexdigest()}"
    target = _path(digest)
    target.parent.mkdir(exist_ok=True)
    os.replace(writer.name, target)
    return digest, size


def blob_exists(digest: str) -> bool:
    """Whether the store has a blob of this digest (not checked against it: see blob_path)."""
    return _path(digest).is_file()


def blob_path(digest: str, *, verify: bool = True) -> Path:
    """The local path of a stored blob, after checking that its content still matches its digest."""
    path = _path(digest)
    if not path.exists():
        raise NotFound(f"blob {digest} is not in the store")
    if verify:
        sha = hashlib.sha256()
        with open(path, "rb") as reader:
            while chunk := reader.read(_CHUNK):
                sha.update(chunk)
        if f"sha256:{sha.hexdigest()}" != digest:
            raise NotFound(f"blob {digest} is corrupt in the store")
    return path


def blob_copy_to(digest: str, target: Path) -> None:
    """Copies a verified blob out of the store."""
    shutil.copyfile(blob_path(digest), target)


def blob_delete(digest: str) -> None:
    """Removes a blob from the store; one that is not there is fine."""
    _path(digest).unlink(missing_ok=True)


_URL_SALT = "paas.blobs"
URL_MAX_AGE = 3600  # seconds a blob's signed URL is good for


def blob_url(digest: str) -> str:
    """A URL at the controller from which a host's agent fetches the blob `digest` for an hour; the signature is the
    authentication (no token travels to the hosts)."""
    return signed_url(f"blobs/{digest}")


def signed_url(path: str) -> str:
    """The controller's URL of `path` under /internal/, signed for URL_MAX_AGE seconds."""
    from django.core.signing import TimestampSigner

    signature = TimestampSigner(salt=_URL_SALT).sign(path)[len(path) + 1 :]  # "TIMESTAMP:SIGNATURE"
    return f"{settings.PAAS_CONTROLLER_URL.rstrip('/')}/internal/{path}?s={signature}"


def signed_url_check(path: str, signature: str) -> bool:
    """Whether `signature` is the controller's for `path` under /internal/, made within URL_MAX_AGE seconds."""
    from django.core.signing import BadSignature, TimestampSigner

    try:
        return TimestampSigner(salt=_URL_SALT).unsign(f"{path}:{signature}", max_age=URL_MAX_AGE) == path
    except BadSignature:
        return False


def blob_fetch(digest: str, url: str, *, timeout: float = 60) -> Path:
    """The blob `digest`, fetched from `url` into this store when it does not have it, and kept only when its content
    matches the digest; returns its path."""
    if blob_exists(digest):
        return blob_path(digest)
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        download = Path(scratch) / "blob"
        with open(download, "wb") as writer:
            url_fetch_checked(url, digest, writer, timeout=timeout)
        blob_put_file(download)
    return blob_path(digest)


def url_fetch_checked(url: str, digest: str, writer, *, timeout: float = 60) -> int:
    """Writes what `url` answers into the open file `writer`; refuses it (InvalidInput) unless its SHA-256 is
    `digest`. Returns its size."""
    import urllib.request

    sha, size = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            sha.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    if f"sha256:{sha.hexdigest()}" != digest:
        raise InvalidInput(f"the blob fetched for {digest} has digest sha256:{sha.hexdigest()}: refused")
    return size
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        download = Path(scratch) / "blob"
        with urllib.request.urlopen(url, timeout=timeout) as response, open(download, "wb") as writer:
            while chunk := response.read(_CHUNK):
                sha.update(chunk)
                writer.write(chunk)
        if f"sha256:{sha.hexdigest()}" != digest:
            raise InvalidInput(f"the blob fetched for {digest} has digest sha256:{sha.hexdigest()}: refused")
        blob_put_file(download)
    return blob_path(digest)


_UPLOAD_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def upload_token() -> str:
    """A new token for a signed upload URL (`signed_url(f"uploads/{token}")`): one blob may be sent under it."""
    return secrets.token_hex(16)


def upload_record(token: str, digest: str, size: int) -> bool:
    """Records which blob was sent under `token`; False when one was already (a token takes one upload)."""
    if not _UPLOAD_TOKEN.fullmatch(token):
        return False
    uploads = Path(settings.DATA_DIR) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    try:
        with open(uploads / token, "x") as record:
            json.dump({"digest": digest, "size": size}, record)
    except FileExistsError:
        return False
    return True


def upload_used(token: str) -> bool:
    """Whether a blob was sent under `token` already."""
    return bool(_UPLOAD_TOKEN.fullmatch(token)) and (Path(settings.DATA_DIR) / "uploads" / token).exists()


def upload_taken(token: str) -> tuple[str, int] | None:
    """The digest and size of the blob sent under `token`, once (the record is removed); None if none was."""
    record = Path(settings.DATA_DIR) / "uploads" / token
    if not _UPLOAD_TOKEN.fullmatch(token) or not record.exists():
        return None
    sent = json.loads(record.read_text())
    record.unlink(missing_ok=True)
    return sent["digest"], int(sent["size"])
