"""The CLI's REST client and its saved login (standard library only; never imports Django)."""

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click

# Exit statuses, after httpie's: 4xx and 5xx answers are told apart from other failures.
EXIT_ERROR = 1
EXIT_HTTP_4XX = 4
EXIT_HTTP_5XX = 5


class CliError(click.ClickException):
    """A failure shown as `error: ...` on stderr, with an exit status that says what kind it was."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def config_path() -> Path:
    """Where `paas login` keeps the platform URL and token."""
    if os.environ.get("PAAS_CONFIG"):
        return Path(os.environ["PAAS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "paas" / "config.json"


def config_load() -> dict:
    path = config_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def config_save(config: dict) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as config_file:
        json.dump(config, config_file, indent=2)


class ApiClient:
    """Calls the platform's REST API with a token."""

    def __init__(self, url: str | None, token: str | None):
        self.url = (url or "").rstrip("/")
        self.token = token

    @classmethod
    def from_config(cls) -> "ApiClient":
        config = config_load()
        return cls(os.environ.get("PAAS_URL") or config.get("url"), os.environ.get("PAAS_TOKEN") or config.get("token"))

    def _request(self, method: str, path: str, body: dict | None, accept: str) -> urllib.request.Request:
        if not self.url or not self.token:
            raise CliError("not logged in; run: paas login URL (it asks for your API token)")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api{path}", data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        return request

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        request = self._request(method, path, body, "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise _http_error(error) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the platform at {self.url}: {reason}") from error
        return json.loads(payload) if payload else None

    def get(self, path: str):
        return self.request("GET", path)

    def stream_lines(
        self, path: str, timeout: float | None = 60, method: str = "GET", body: dict | None = None
    ) -> Iterator[str]:
        """Yields a streamed answer's lines as they arrive (a followed log, a run's output); `timeout` None waits
        forever."""
        request = self._request(method, path, body, "text/plain, application/x-ndjson, application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                for line in response:
                    yield line.decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            raise _http_error(error) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the platform at {self.url}: {reason}") from error

    def post(self, path: str, body: dict, timeout: float = 60):
        return self.request("POST", path, body, timeout)

    def upload(self, path: str, data, length: int, content_type: str):
        """PUTs a file's bytes as they are read (`data`: an open binary file of `length` bytes)."""
        request = self._request("PUT", path, None, "application/json")
        request.data = data
        request.add_header("Content-Type", content_type)
        request.add_header("Content-Length", str(length))
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _http_error(error) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the platform at {self.url}: {reason}") from error

    def patch(self, path: str, body: dict):
        return self.request("PATCH", path, body)

    def delete(self, path: str, body: dict | None = None):
        return self.request("DELETE", path, body)


def _http_error(error: urllib.error.HTTPError) -> CliError:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("error") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and body:
        message = "; ".join(f"{field}: {' '.join(map(str, problems))}" for field, problems in body.items())
    if error.code == 401:
        reason = f"{message}; " if message else ""
        message = f"the platform did not accept your token ({reason}run: paas login URL; it asks for your API token)"
    exit_code = EXIT_HTTP_5XX if error.code >= 500 else EXIT_HTTP_4XX
    return CliError(message or f"the platform answered HTTP {error.code}", exit_code)
