"""The build kit, the builder's failure messages, detect order on the sample apps, poetry.lock export, npm."""

import base64
import hashlib
import importlib.util
import io
import subprocess
import tarfile
from pathlib import Path
from unittest import mock

import pytest

from buildpacks import stack
from buildpacks.pipeline import _BUILTIN_ORDER, BUILTIN_BUILDPACKS, _build_failure, _build_kit, _write_env_dir

SAMPLES = Path(__file__).parent.parent / "apps"
_spec = importlib.util.spec_from_file_location(
    "poetry_export", BUILTIN_BUILDPACKS / "python" / "lib" / "poetry_export.py"
)
poetry_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(poetry_export)


def detected(app: Path) -> str | None:
    """The first built-in buildpack, in detect order, whose bin/detect recognises `app`."""
    for name, _, _ in _BUILTIN_ORDER:
        result = subprocess.run(["bash", BUILTIN_BUILDPACKS / name / "bin" / "detect", app], capture_output=True)
        if result.returncode == 0:
            return name
    return None


@pytest.mark.parametrize(
    ("sample", "buildpack"),
    [
        ("python-requirements", "python"),
        ("python-pyproject", "python"),
        ("python-bad-requirement", "python"),
        ("node-lock", "nodejs"),
        ("node-nolock", "nodejs"),
        ("node-bad-json", "nodejs"),
        ("go", "go"),
        ("go-compile-error", "go"),
        ("static", "static"),
        ("python-uv", "python"),
        ("python-poetry", "python"),
        ("procfile-only", "procfile"),
        ("procfile-bad", "procfile"),
        ("release-phase", "procfile"),
        ("release-phase-failing", "procfile"),
        ("nothing-recognised", None),
    ],
)
def test_each_sample_is_detected_by_its_buildpack(sample, buildpack):
    assert detected(SAMPLES / sample) == buildpack


def test_every_sample_is_pushed_by_the_end_to_end_suite():
    pushed = (Path(__file__).parent.parent / "e2e" / "test_buildpacks.py").read_text()
    samples = {entry.name for entry in SAMPLES.iterdir() if entry.is_dir() and not entry.name.startswith("__")}
    assert {sample for sample in samples if f'"{sample}"' not in pushed} == set()


def test_python_comes_before_node_and_static_and_procfile_come_last(tmp_path):
    for name in ("Procfile", "index.html", "package.json", "requirements.txt"):
        (tmp_path / name).write_text("{}\n")
    assert detected(tmp_path) == "python"
    (tmp_path / "requirements.txt").unlink()
    assert detected(tmp_path) == "nodejs"
    (tmp_path / "package.json").unlink()
    assert detected(tmp_path) == "static"
    (tmp_path / "index.html").unlink()
    assert detected(tmp_path) == "procfile"
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("<h1>hi</h1>\n")
    assert detected(tmp_path) == "static"


def test_every_builtin_buildpack_has_the_three_scripts_and_they_parse():
    for name, _, _ in _BUILTIN_ORDER:
        for script in ("detect", "compile", "release"):
            path = BUILTIN_BUILDPACKS / name / "bin" / script
            assert subprocess.run(["bash", "-n", path]).returncode == 0, path
    builder = BUILTIN_BUILDPACKS.parent / "scripts" / "builder"
    assert subprocess.run(["bash", "-n", builder]).returncode == 0


def test_nothing_recognised_lists_what_each_buildpack_looks_for():
    message = _build_failure(100)
    assert message.startswith(
        "No buildpack recognised this app. Looked for: requirements.txt, pyproject.toml, setup.py (Python); "
        "package.json (Node.js); go.mod (Go); index.html or public/index.html (static); a Procfile (any other app)."
    )
    assert "could not be used" in _build_failure(101)
    assert _build_failure(1) == "Build failed: the buildpack exited with status 1; see the output above"


def test_the_env_dir_has_one_file_per_config_var_and_skips_names_that_cannot_be_vars(tmp_path):
    _write_env_dir(tmp_path / "env", {"BUILDPACK_URL": "https://x/y.git", "GREETING": "a b\nc", "../bad": "x"})
    assert sorted(path.name for path in (tmp_path / "env").iterdir()) == ["BUILDPACK_URL", "GREETING"]
    assert (tmp_path / "env" / "GREETING").read_text() == "a b\nc"


def test_the_build_kit_holds_the_builder_the_buildpacks_their_order_and_the_config(tmp_path):
    kit = _build_kit(tmp_path, {"GREETING": "hi"})
    with tarfile.open(kit) as tar:
        names = set(tar.getnames())
        order = tar.extractfile("paas-build/order").read().decode().split()
        greeting = tar.extractfile("paas-build/env/GREETING").read()
    assert {"paas-build/builder", "paas-build/env", "paas-build/buildpacks/go/bin/compile"} <= names
    assert order == ["python", "nodejs", "go", "static", "procfile"]
    assert greeting == b"hi"
    assert "paas-build/env" in names and not [name for name in names if name.startswith("paas-build/env/B")]


POETRY_LOCK = """\
[[package]]
name = "flask"
version = "3.0.3"
optional = false
python-versions = ">=3.8"
groups = ["main"]

[[package]]
name = "pytest"
version = "8.2.0"
optional = false
python-versions = ">=3.8"
groups = ["dev"]

[[package]]
name = "colorama"
version = "0.4.6"
optional = false
python-versions = "*"
groups = ["main", "dev"]
markers = {main = "platform_system == \\"Windows\\"", dev = "sys_platform == \\"win32\\""}

[[package]]
name = "mylib"
version = "0.1"
optional = false
python-versions = "*"
category = "main"

[package.source]
type = "git"
url = "https://example.com/mylib.git"
reference = "main"
resolved_reference = "abc123"

[[package]]
name = "extra-only"
version = "1.0"
optional = true
python-versions = "*"
"""


def test_poetry_lock_export_pins_the_main_group_with_markers_and_sources():
    assert poetry_export.requirements(POETRY_LOCK) == [
        "flask==3.0.3",
        'colorama==0.4.6 ; platform_system == "Windows"',
        "mylib @ git+https://example.com/mylib.git@abc123",
    ]


def test_a_poetry_project_is_installed_unless_it_is_in_non_package_mode():
    build_system = '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
    assert poetry_export.is_package(build_system + '[tool.poetry]\nname = "x"\n')
    assert not poetry_export.is_package(build_system + "[tool.poetry]\npackage-mode = false\n")
    assert not poetry_export.is_package('[tool.poetry]\nname = "x"\n')


def _fake_npm_tarball(path: Path) -> str:
    """A tarball laid out as npm's, at `path`; returns its integrity string."""
    with tarfile.open(path, "w:gz") as tar:
        for name in ("package/bin/npm-cli.js", "package/bin/npx-cli.js"):
            data = b"#!/usr/bin/env node\n"
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o755
            tar.addfile(member, io.BytesIO(data))
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_npm_is_unpacked_into_the_stack_when_its_hash_matches(tmp_path):
    tarball = tmp_path / "served.tgz"
    integrity = _fake_npm_tarball(tarball)
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "local" / "bin").mkdir(parents=True)
    with (
        mock.patch.object(stack, "NPM", ("1.0.0", "https://registry.invalid/npm-1.0.0.tgz", integrity)),
        mock.patch.object(stack.urllib.request, "urlopen", return_value=open(tarball, "rb")),
    ):
        stack._stack_install_npm(rootfs, tmp_path, lambda text: None)
    npm = rootfs / "usr" / "local" / "bin" / "npm"
    assert npm.is_symlink() and npm.resolve() == rootfs / "usr/local/lib/node_modules/npm/bin/npm-cli.js"
    assert (rootfs / "usr/local/lib/node_modules").stat().st_mode & 0o777 == 0o755


def test_npm_whose_hash_does_not_match_fails_the_stack_build(tmp_path):
    tarball = tmp_path / "served.tgz"
    _fake_npm_tarball(tarball)
    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    with (
        mock.patch.object(stack, "NPM", ("1.0.0", "https://registry.invalid/npm-1.0.0.tgz", wrong)),
        mock.patch.object(stack.urllib.request, "urlopen", return_value=open(tarball, "rb")),
        pytest.raises(stack.StackError, match="does not match its integrity hash"),
    ):
        stack._stack_install_npm(tmp_path / "rootfs", tmp_path, lambda text: None)
