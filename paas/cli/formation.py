"""Commands on what runs: scale, ps, restart."""

import time

import click

from paas.cli.client import ApiClient, CliError
from paas.cli.options import (
    app_option,
    current_app,
    json_option,
    parse_scale,
    pass_client,
    wait_for_rollout,
    wait_options,
)
from paas.cli.output import echo_json, echo_listing


def _wait_for_formation(client: ApiClient, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        formation = client.get(f"/apps/{name}/formation/")
        jobs = client.get(f"/apps/{name}/jobs/")
        if _formation_settled(formation, jobs):
            return
        time.sleep(0.5)
    raise CliError(f"the formation did not settle within {timeout:.0f}s; `paas ps -a {name}` shows the jobs")


def _formation_settled(formation: dict, jobs: list[dict]) -> bool:
    release = formation["release"]
    for ptype, count in formation["counts"].items():
        up = [j for j in jobs if j["process_type"] == ptype and j["release"] == release and j["state"] == "up"]
        if len(up) != count:
            return False
    extra = [j for j in jobs if formation["counts"].get(j["process_type"], 0) == 0]
    return not extra


@click.command()
@click.argument("counts", nargs=-1)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the jobs.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the jobs.")
@app_option
@json_option
@pass_client
def scale(client, counts, no_wait, timeout, as_json):
    """Show the formation, or set it: paas scale web=2 worker=1."""
    name = current_app()
    if counts:
        formation = client.patch(f"/apps/{name}/formation/", {"counts": parse_scale(counts)})
        if not no_wait:
            _wait_for_formation(client, name, timeout)
    else:
        formation = client.get(f"/apps/{name}/formation/")
    if as_json:
        echo_json(formation)
        return
    shown = " ".join(f"{ptype}={count}" for ptype, count in sorted(formation["counts"].items()))
    click.echo(f"{name}: {shown or 'nothing scaled'}" + (f" (v{formation['release']})" if formation["release"] else ""))


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _job_note(job: dict) -> str:
    """Restarts, and why it last stopped (out of memory, a failed check, exit N); a one-off job's command."""
    restarts = f"{job['restarts']} restarts" if job["restarts"] else ""
    command = f"{job['kind']}: {job['command'][:60]}" if job.get("kind", "formation") != "formation" else ""
    return "; ".join(part for part in (command, restarts, job.get("reason", "")) if part)


@click.command()
@app_option
@json_option
@pass_client
def ps(client, as_json):
    """List an app's jobs: state, uptime, host, limits, last health check, restarts and why it last stopped."""
    echo_listing(
        client.get(f"/apps/{current_app()}/jobs/"),
        as_json,
        empty="No jobs running.",
        row=lambda job: [
            job["name"],
            job["state"],
            f"v{job['release']}",
            job["host"] or "-",
            (job["container_id"] or "")[:12],
            _uptime(job.get("uptime")),
            f"{job['limits']['memory']}/{job['limits']['cpus']:g}cpu" if job.get("limits") else "-",
            job.get("last_check") or "-",
            _job_note(job),
        ],
    )


@click.command()
@click.argument("process_type", required=False)
@app_option
@wait_options
@pass_client
def restart(client, process_type, no_wait, timeout):
    """Replace every job (or every job of PROCESS_TYPE) one by one, with no downtime."""
    name = current_app()
    client.post(f"/apps/{name}/restart/", {"process_type": process_type} if process_type else {})
    click.echo(f"Restarting {process_type or 'every process type'} of {name}")
    if not no_wait:
        wait_for_rollout(client, name, None, timeout)
