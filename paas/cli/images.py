"""`paas deploy-image`: release a Docker image instead of building from git."""

import shutil
import sys
import tempfile

import click

from paas.cli.options import app_option, current_app, pass_client, wait_for_rollout, wait_options


@click.command("deploy-image")
@click.argument("image")
@app_option
@wait_options
@pass_client
def deploy_image(client, image, no_wait, timeout):
    """Release IMAGE (one the platform's Docker engine has), or `-`: an image archive on standard input
    (docker save IMAGE | paas deploy-image -). Its CMD is the web process; it listens on its EXPOSEd port or $PORT."""
    name = current_app()
    if image == "-":
        answer = _upload(client, name)
    else:
        answer = client.post(f"/apps/{name}/images/", {"image": image})
    click.echo(f"Made v{answer['release']} of {name} from {'the uploaded image' if image == '-' else image}")
    if not no_wait:
        wait_for_rollout(client, name, answer["release"], timeout)


def _upload(client, name: str) -> dict:
    """Spools standard input to a temporary file (its length goes first), then streams it up."""
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1024 * 1024)
        length = spool.tell()
        spool.seek(0)
        click.echo(f"Uploading the image ({length / 1024 / 1024:.1f} MB)...", err=True)
        return client.upload(f"/apps/{name}/images/upload/", spool, length, "application/x-tar")
