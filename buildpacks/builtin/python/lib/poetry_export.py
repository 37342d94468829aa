"""poetry.lock -> pip requirement lines pinning its main-group packages, without Poetry (stdlib only).

python3 poetry_export.py poetry.lock          prints the requirement lines
python3 poetry_export.py --is-package FILE    exits 0 when the pyproject.toml FILE describes a package to install
"""

import sys
import tomllib


def _marker(package: dict) -> str:
    markers = package.get("markers")
    if isinstance(markers, dict):  # lock format 2.1: per group
        markers = markers.get("main")
    return markers or ""


def _in_main_group(package: dict) -> bool:
    if package.get("optional"):  # installed only for an extra
        return False
    if "groups" in package:
        return "main" in package["groups"]
    return package.get("category", "main") == "main"


def requirement_line(package: dict) -> str:
    """One package of the lock as a pip requirement line."""
    name, version = package["name"], package["version"]
    source = package.get("source") or {}
    kind = source.get("type")
    if kind == "git":
        reference = source.get("resolved_reference") or source.get("reference") or ""
        line = f"{name} @ git+{source['url']}" + (f"@{reference}" if reference else "")
        if source.get("subdirectory"):
            line += f"#subdirectory={source['subdirectory']}"
    elif kind == "url":
        line = f"{name} @ {source['url']}"
    elif kind in ("directory", "file"):
        line = f"{name} @ file://{'/app/' + source['url'] if not source['url'].startswith('/') else source['url']}"
    else:  # PyPI, or a named index (legacy): the pinned version
        line = f"{name}=={version}"
    marker = _marker(package)
    return f"{line} ; {marker}" if marker else line


def requirements(lock_text: str) -> list[str]:
    """The requirement lines for the main group of a poetry.lock's text."""
    lock = tomllib.loads(lock_text)
    return [requirement_line(package) for package in lock.get("package", []) if _in_main_group(package)]


def is_package(pyproject_text: str) -> bool:
    """Whether pip should install the project itself: it has a build system and is not in Poetry's non-package mode."""
    pyproject = tomllib.loads(pyproject_text)
    poetry = pyproject.get("tool", {}).get("poetry", {})
    return "build-system" in pyproject and poetry.get("package-mode", True) is not False


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--is-package":
        with open(argv[1], encoding="utf-8") as file:
            return 0 if is_package(file.read()) else 1
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as file:
            lines = requirements(file.read())
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        print(f" !     {argv[0]}: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
