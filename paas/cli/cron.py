"""Commands on an app's cron schedules: commands run as one-off jobs of its current release on a schedule, in UTC."""

import click

from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table, when


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def cron(ctx, client, as_json):
    """List the app's cron schedules and their runs (add, remove: subcommands).

    Each with its last run (run.N), that run's exit code, and its next run, in UTC.
    """
    if ctx.invoked_subcommand:
        return
    app = current_app()
    answer = client.get(f"/apps/{app}/cron/")
    if as_json:
        echo_json(answer)
        return
    if not answer:
        click.echo(f"{app} has no cron schedules. Add one: paas cron add '*/5 * * * *' -a {app} -- COMMAND")
        return
    rows = [["id", "schedule (UTC)", "command", "source", "last run", "exit", "next run"]]
    rows += [_row(schedule) for schedule in answer]
    echo_table(rows)


def _row(schedule: dict) -> list:
    last_run = f"{when(schedule['last_run_at'])} {schedule['last_run'] or ''}".strip()  # "-" before its first run
    exit_code = schedule["last_exit_code"]
    if exit_code is None:
        exit_code = schedule["last_state"] if schedule["last_state"] not in (None, "stopped") else "-"
    return [
        schedule["id"],
        schedule["schedule"],
        schedule["command"],
        schedule["source"],
        last_run,
        exit_code,
        when(schedule["next_run_at"]),
    ]


@cron.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("schedule")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@app_option
@pass_client
def cron_add(client, schedule, command):
    """Run COMMAND on SCHEDULE (five fields in UTC, or @hourly, @daily, @weekly, @monthly, @yearly) as a detached
    one-off job of the current release; its output goes to `paas logs`. A run still going when the next is due
    makes that one skipped.

        paas cron add '*/5 * * * *' -a myapp -- python manage.py clearsessions
    """
    app = current_app()
    words = command[1:] if command[:1] == ("--",) else command
    added = client.post(f"/apps/{app}/cron/", {"schedule": schedule, "command": " ".join(words)})
    click.echo(f"Cron schedule {added['id']} added to {app}: `{added['command']}` at {added['schedule']} (UTC).")
    click.echo(f"Next run: {when(added['next_run_at'])} UTC; its output: paas logs -p run -a {app}")


@cron.command("remove")
@click.argument("cron_id", type=int)
@app_option
@pass_client
def cron_remove(client, cron_id):
    """Remove cron schedule CRON_ID (`paas cron` lists them); those from app.json go when app.json drops them."""
    app = current_app()
    client.delete(f"/apps/{app}/cron/{cron_id}/")
    click.echo(f"Cron schedule {cron_id} removed from {app}.")
