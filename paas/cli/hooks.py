"""Commands on an app's deploy hooks: URLs told of its deploys, failed builds and crashes."""

import click

from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table

EVENTS = ("deploy", "build_failed", "crashed")


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def hooks(ctx, client, as_json):
    """List the app's deploy hooks (add, remove and deliveries: subcommands)."""
    if ctx.invoked_subcommand:
        return
    app = current_app()
    answer = client.get(f"/apps/{app}/hooks/")
    if as_json:
        echo_json(answer)
        return
    if not answer:
        click.echo(f"{app} has no hooks. Add one: paas hooks add https://example.com/hook -a {app}")
        return
    echo_table([["id", "url", "events"]] + [[hook["id"], hook["url"], ",".join(hook["events"])] for hook in answer])


@hooks.command("add")
@click.argument("url")
@click.option("--events", help=f"Comma-separated, of {', '.join(EVENTS)} (default: all of them).")
@app_option
@pass_client
def hooks_add(client, url, events):
    """Tell URL of the app's events: a JSON POST signed with HMAC-SHA256 (X-Paas-Signature: sha256=HEX)."""
    app = current_app()
    body = {"url": url}
    if events:
        body["events"] = [event.strip() for event in events.split(",") if event.strip()]
    hook = client.post(f"/apps/{app}/hooks/", body)
    click.echo(f"Hook {hook['id']} added: {hook['url']} is told of {', '.join(hook['events'])}.")
    click.echo(f"Its secret, shown this once (check X-Paas-Signature with it): {hook['secret']}")


@hooks.command("remove")
@click.argument("hook_id", type=int)
@app_option
@pass_client
def hooks_remove(client, hook_id):
    """Remove hook HOOK_ID (`paas hooks` lists them), with its delivery log."""
    app = current_app()
    client.delete(f"/apps/{app}/hooks/{hook_id}/")
    click.echo(f"Hook {hook_id} removed from {app}.")


@hooks.command("deliveries")
@app_option
@json_option
@pass_client
def hooks_deliveries(client, as_json):
    """The last deliveries to the app's hooks, newest first: event, state, attempts and the receiver's answer."""
    app = current_app()
    answer = client.get(f"/apps/{app}/hooks/deliveries/")
    if as_json:
        echo_json(answer)
        return
    if not answer:
        click.echo(f"Nothing was sent to {app}'s hooks yet.")
        return
    rows = [["id", "hook", "event", "state", "attempts", "answer", "at"]]
    for delivery in answer:
        said = str(delivery["status_code"] or "") or delivery["error"] or "-"
        rows.append(
            [
                delivery["id"],
                delivery["hook"],
                delivery["event"],
                delivery["state"],
                delivery["attempts"],
                said,
                delivery["created_at"][:19].replace("T", " "),
            ]
        )
    echo_table(rows)
