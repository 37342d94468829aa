"""The pre-receive hook of every app repository (standard library only; installed as a script).

git receive-pack runs it with the pushed ref updates on stdin, while the new objects are still in
quarantine. It archives the pushed commit (up to PAAS_SOURCE_MAX_BYTES), hands it to the git receiver
that started this push (over a Unix socket), and prints the build log as it streams back; git shows
each line to the pusher as `remote: ...`. A non-zero exit rejects the push, so a failed build updates
nothing.
"""

import json
import os
import socket
import subprocess
import sys

DEPLOY_BRANCHES = ("refs/heads/main", "refs/heads/master")
ARCHIVE_NAME = "source.tar"  # in PAAS_PUSH_DIR, where the git receiver picks it up


def _fail(message: str) -> int:
    print(f" !     {message}", flush=True)
    return 1


def _deploy_update(lines: list[str]):
    """The one (old, new, ref) update to deploy, or an error message."""
    updates = [line.split() for line in lines if line.strip()]
    for _old, new, ref in updates:
        if ref not in DEPLOY_BRANCHES:
            return None, f"pushed to {ref}; push the main or master branch to deploy (git push paas main)"
        if new.strip("0") == "":
            return None, "deleting the deploy branch is not supported"
    if len(updates) != 1:
        return None, "push one branch at a time: main or master"
    return updates[0], None


def _stream(request: dict) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(os.environ["PAAS_PUSH_SOCKET"])
        conn.sendall(json.dumps(request).encode() + b"\n")
        with conn.makefile("r", encoding="utf-8") as replies:
            for line in replies:
                reply = json.loads(line)
                if "log" in reply:
                    sys.stdout.write(reply["log"])
                    sys.stdout.flush()
                if "exit" in reply:
                    return int(reply["exit"])
    return _fail("the platform stopped before the build finished; push again")


def _archive(revision: str, path: str, max_bytes: int) -> None:
    """Writes the tree of `revision` as a tar to `path`, streamed, and never more than `max_bytes` + 1 bytes.

    A tree larger than that stops there; the git receiver then refuses the push for its size.
    """
    with open(path, "wb") as target:
        git = subprocess.Popen(["git", "archive", "--format=tar", revision], stdout=subprocess.PIPE)
        written = 0
        while written <= max_bytes and (chunk := git.stdout.read(1024 * 1024)):
            chunk = chunk[: max_bytes + 1 - written]
            target.write(chunk)
            written += len(chunk)
        if written > max_bytes:
            git.kill()
        git.stdout.close()
        status = git.wait()
    if written <= max_bytes and status != 0:
        raise subprocess.CalledProcessError(status, ["git", "archive", revision])


def main() -> int:
    update, error = _deploy_update(sys.stdin.read().splitlines())
    if error:
        return _fail(error)
    old, new, ref = update
    archive = os.path.join(os.environ["PAAS_PUSH_DIR"], ARCHIVE_NAME)
    _archive(new, archive, int(os.environ["PAAS_SOURCE_MAX_BYTES"]))
    return _stream({"old": old, "new": new, "ref": ref})


if __name__ == "__main__":
    sys.exit(main())
