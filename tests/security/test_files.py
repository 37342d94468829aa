"""Files and secrets: DATA_DIR and everything in it are private to the platform's user, keys from their first byte;
locks live under DATA_DIR, not in /tmp; an internal error's text reaches the platform's log, never the pusher."""

import logging
import os
import stat
from pathlib import Path
from unittest import mock

import asyncssh
import pytest
from django.test import override_settings

from buildpacks import stack
from buildpacks.models import Build, BuildState
from buildpacks.pipeline import build_execute
from buildpacks.sshd import host_key_path
from paas.bootstrap import admin_bootstrap
from paas.datadir import data_dir_prepare
from tests.factories import make_app


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask():
    """Runs the test under umask 022 (a usual shell's), and gives this process its umask back afterwards."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _as_an_older_version_left_it(root: Path) -> None:
    """A DATA_DIR with a world-readable database and repository, and a world-writable scratch directory."""
    (root / "repos" / "shop.git" / "objects").mkdir(parents=True)
    (root / "repos" / "shop.git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "paas.sqlite3").write_text("API tokens in the clear")
    (root / "tmp").mkdir(mode=0o777)
    (root / "tmp").chmod(0o777)
    root.chmod(0o755)


@pytest.mark.django_db
def test_data_dir_and_everything_the_platform_writes_in_it_are_private(tmp_path, monkeypatch, umask):
    root = tmp_path / "var"
    root.mkdir()
    _as_an_older_version_left_it(root)
    monkeypatch.setenv("PAAS_DATA_DIR", str(root))

    data_dir_prepare()
    (root / "repos" / "shop.git" / "objects" / "new").write_text("written after the start, as git would")
    with override_settings(DATA_DIR=root):
        admin_bootstrap()
        host_key_path()

    assert _mode(root) == 0o700
    everything = sorted(root.rglob("*"))
    assert {path.name for path in everything} >= {"secret.key", "admin.token", "ssh_host_ed25519_key", "new", "tmp"}
    assert [(str(path), oct(_mode(path))) for path in everything if _mode(path) & 0o077] == []
    assert {_mode(root / name) for name in ("secret.key", "admin.token", "ssh_host_ed25519_key")} == {0o600}


def test_the_host_key_is_private_from_its_first_byte(tmp_path, umask):
    """With no umask to help and no chmod afterwards, the key file is still 0600: it was created so."""
    os.umask(0)
    with override_settings(DATA_DIR=tmp_path), mock.patch("os.chmod"), mock.patch.object(Path, "chmod"):
        path = host_key_path()
    assert _mode(path) == 0o600
    key = path.read_bytes()
    assert asyncssh.import_private_key(key).algorithm == b"ssh-ed25519"
    with override_settings(DATA_DIR=tmp_path):
        assert host_key_path() == path and path.read_bytes() == key  # made once, then kept


def test_the_host_key_is_never_written_through_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "stolen_key"
    elsewhere.parent.mkdir()
    (tmp_path / "ssh_host_ed25519_key").symlink_to(elsewhere)  # dangling: `exists()` is False
    with override_settings(DATA_DIR=tmp_path):
        host_key_path()
    assert not elsewhere.exists()


def test_the_stack_build_lock_is_under_data_dir(tmp_path, monkeypatch):
    engine = mock.Mock()
    engine.image_id.return_value = None
    opened = []
    monkeypatch.setattr(stack, "_stack_build", lambda engine, on_output: None)
    monkeypatch.setattr(stack.fcntl, "flock", lambda lock, operation: opened.append(Path(lock.name)))
    with override_settings(DATA_DIR=tmp_path):
        stack.stack_ensure(engine, on_output=lambda text: None)
    assert opened == [tmp_path / "locks" / f"stack-{stack.stack_tag()}.lock"]
    assert _mode(tmp_path / "locks") == 0o700


@pytest.mark.django_db
def test_an_internal_error_in_a_build_reaches_the_platforms_log_only(caplog):
    build = Build.objects.create(app=make_app("shop"), revision="a" * 40, source_digest="sha256:" + "0" * 64)
    secret = RuntimeError("cannot connect to postgres://paas:s3cret@10.0.0.5/paas")
    with mock.patch("buildpacks.pipeline._build_artifact", side_effect=secret), caplog.at_level(logging.ERROR):
        build_execute(build)
    build.refresh_from_db()
    told = f"internal error while building; the platform's log has the details (build {build.pk})"
    assert "s3cret" not in build.log + build.error
    assert build.state == BuildState.FAILED and build.error == told and told in build.log
    assert "s3cret" in caplog.text
