"""The builder's dependency layer split (buildpacks/scripts/builder), run by bash on a build directory of files."""

import os
import subprocess
from pathlib import Path

import pytest

BUILDER = Path(__file__).parent.parent.parent / "buildpacks" / "scripts" / "builder"


def _layer_functions() -> str:
    """The builder's layer functions, as it defines them (everything from their comment to the seeded_note call)."""
    text = BUILDER.read_text()
    start = text.index("# Dependency layers:")
    return text[start : text.index("\nseeded_note\n", start)]


@pytest.fixture
def build(tmp_path):
    """Runs the split on tmp_path/app: `seeded` names what the build started with, `during` is bash run between
    noting the seeds and splitting (the buildpacks' part); returns the app dir, the slug dir and the key."""
    app, layer = tmp_path / "app", tmp_path / "layer"
    app.mkdir()
    layer.mkdir()
    functions = tmp_path / "functions.sh"
    functions.write_text(_layer_functions())

    def run(declared: list[str], seeded: str = "", during: str = "") -> tuple[Path, Path, str, str]:
        (layer / "declared").write_text("".join(f"{name}\n" for name in declared))
        script = f'set -eo pipefail\n. "{functions}"\nseeded_note\n{during}\nsplit_layer\n'
        env = {**os.environ, "PAAS_LAYERS_FILE": str(layer / "declared"), "PAAS_LAYERS_SEEDED": seeded}
        env["build_dir"] = str(app)
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        key = (layer / "key").read_text().strip() if (layer / "key").exists() else ""
        return app, layer / "slug" / "app", key, done.stdout

    return run


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _names(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")} if root.exists() else set()


def test_the_declared_directory_stays_and_all_the_rest_moves_to_the_slug(build, tmp_path):
    _write(tmp_path / "app", {"app.py": "x", ".profile.d/python.sh": "x", "my file.txt": "x", ".venv/lib/a.py": "a"})
    (tmp_path / "app" / "link").symlink_to("app.py")
    app, slug, key, _ = build([".venv", "./.venv/"])
    assert _names(app) == {".venv", ".venv/lib", ".venv/lib/a.py"}
    assert _names(slug) == {"app.py", ".profile.d", ".profile.d/python.sh", "my file.txt", "link"}
    assert len(key) == 64


def test_what_cannot_be_a_layer_is_said_and_left_in_the_slug(build, tmp_path):
    _write(tmp_path / "app", {"vendor/bundle/a": "a", "real/a": "a", "app.py": "x"})
    (tmp_path / "app" / "linked").symlink_to("real")
    app, slug, key, output = build(["vendor/bundle", "my dir", "linked", "missing"])
    assert "Not a dependency layer: 'vendor/bundle'" in output and "Not a dependency layer: 'my dir'" in output
    assert key == "" and _names(app) == _names(tmp_path / "app") and not slug.exists()  # nothing split


def test_a_seeded_directory_no_buildpack_declared_goes_if_the_build_left_it_alone(build, tmp_path):
    _write(tmp_path / "app", {"node_modules/x/i.js": "x", "app.py": "x"})
    app, _, key, _ = build([], seeded="node_modules")
    assert not (app / "node_modules").exists() and (app / "app.py").exists() and key == ""


def test_a_seeded_directory_the_build_rebuilt_stays_in_the_slug(build, tmp_path):
    """A Python app that left requirements.txt for a plain pyproject.toml: its new virtualenv is not a layer."""
    _write(tmp_path / "app", {".venv/lib/old.py": "old", ".venv/.paas-key": "k", "pyproject.toml": "x"})
    app, slug, key, _ = build(
        [],
        seeded=".venv",
        during='rm -rf "$build_dir/.venv" && mkdir -p "$build_dir/.venv/lib" '
        '&& echo new > "$build_dir/.venv/lib/new.py"',
    )
    # Nothing declared: nothing is split, and /app (the new virtualenv with it) is the slug.
    assert {".venv/lib/new.py", "pyproject.toml"} <= _names(app) and key == "" and not slug.exists()


def test_the_key_follows_the_contents_not_the_times_and_leaves_caches_out(build, tmp_path):
    app_dir = tmp_path / "app"
    _write(app_dir, {".venv/lib/a.py": "version 1", ".venv/.cache/x": "1"})
    _, _, first, _ = build([".venv"])
    os.utime(app_dir / ".venv" / "lib" / "a.py", (1, 1))
    _write(app_dir, {".venv/.cache/x": "2, longer"})
    _, _, touched, _ = build([".venv"])
    assert touched == first
    _write(app_dir, {".venv/lib/a.py": "version 2"})  # the same size
    _, _, changed, _ = build([".venv"])
    assert changed != first
