"""The CLI's use of the local git checkout: the `paas` remote."""

import re
import subprocess

REMOTE = "paas"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def in_checkout() -> bool:
    """Whether the current directory is inside a git work tree."""
    try:
        return _git("rev-parse", "--is-inside-work-tree").stdout.strip() == "true"
    except FileNotFoundError:
        return False


def remote_app() -> str | None:
    """The app the `paas` remote of this checkout points at, if any."""
    if not in_checkout():
        return None
    url = _git("config", "--get", f"remote.{REMOTE}.url").stdout.strip()
    match = re.search(r"/([a-z0-9-]+?)(?:\.git)?/?$", url)
    return match.group(1) if match else None


def remote_set(url: str) -> str:
    """Points the `paas` remote at `url`; returns `added` or `updated`."""
    if _git("config", "--get", f"remote.{REMOTE}.url").returncode == 0:
        _git("remote", "set-url", REMOTE, url)
        return "updated"
    _git("remote", "add", REMOTE, url)
    return "added"
