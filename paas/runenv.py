"""How `paas run` carries variables for one run over SSH: `--env=BASE64(JSON)`, apart from the command, so that
they are never shown with it (in `paas ps`, the events, the logs). Plain Python: the CLI uses it too."""

import base64
import json

ENV_OPTION = "--env="


def run_env_encoded(env: dict[str, str]) -> str:
    """Variables as the `--env=` option carries them."""
    return ENV_OPTION + base64.urlsafe_b64encode(json.dumps(env).encode()).decode()


def run_env_decoded(option: str) -> dict:
    """The variables an `--env=` option carries; ValueError when it is not base64 of a JSON object."""
    env = json.loads(base64.urlsafe_b64decode(option.removeprefix(ENV_OPTION).encode()))
    if not isinstance(env, dict):
        raise ValueError("not a JSON object")
    return env
