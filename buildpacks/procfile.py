"""Process types from a Procfile, and from a buildpack's `bin/release` output."""

import re

from paas.errors import InvalidInput

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def procfile_parse(text: str) -> dict[str, str]:
    """`web: gunicorn app:app` lines -> {"web": "gunicorn app:app"}; blank lines and # comments skipped."""
    processes = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if not match:
            raise InvalidInput(
                f"Procfile line {number} is not `type: command`: {stripped!r}; write it as, say, "
                "`web: gunicorn app:app` (a name, a colon, then the command)"
            )
        processes[match.group(1).lower()] = match.group(2).strip()
    return processes


def release_default_processes(text: str) -> dict[str, str]:
    """The `default_process_types` a buildpack's `bin/release` printed (the YAML subset buildpacks use)."""
    processes = {}
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.strip() == "---":
            continue
        if not line.startswith((" ", "\t")):
            inside = line.split(":", 1)[0].strip() == "default_process_types"
            continue
        match = _LINE.match(line.strip())
        if inside and match:
            processes[match.group(1).lower()] = match.group(2).strip().strip("'\"")
    return processes
