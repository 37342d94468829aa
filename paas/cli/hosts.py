"""Commands on where jobs run: the hosts (staff only), and the tags an app's process types need of them."""

import click

from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table

GIB = 1024**3


@click.group(invoke_without_command=True)
@json_option
@pass_client
@click.pass_context
def hosts(ctx, client, as_json):
    """List the hosts jobs run on: state, last heartbeat, address, memory, CPUs, jobs (and the containers its agent
    last saw running) and tags (staff only; tag, drain and undrain: subcommands)."""
    if ctx.invoked_subcommand:
        return
    answer = client.get("/hosts/")
    if as_json:
        echo_json(answer)
        return
    rows = [["host", "state", "heartbeat", "address", "memory", "cpus", "jobs", "tags"]]
    for host in answer:
        state = f"{host['state']}, drained" if host["drained"] else host["state"]
        memory = f"{host['memory'] / GIB:.1f}G" if host["memory"] else "-"
        heartbeat = (host["heartbeat_at"] or "-")[:19].replace("T", " ")
        jobs = f"{host['jobs']} ({host['containers']} running)" if host.get("containers") is not None else host["jobs"]
        tags = ",".join(host["tags"])
        rows.append([host["name"], state, heartbeat, host["address"], memory, host["cpus"] or "-", jobs, tags])
    echo_table(rows)


@hosts.command("tag")
@click.argument("name")
@click.argument("tags", nargs=-1)
@pass_client
def hosts_tag(client, name, tags):
    """Give host NAME these TAGS, all of them (none: no tags); process types' constraints name them."""
    host = client.patch(f"/hosts/{name}/", {"tags": list(tags)})
    click.echo(f"{name}: tags {', '.join(host['tags']) or '(none)'}")


@hosts.command("drain")
@click.argument("name")
@pass_client
def hosts_drain(client, name):
    """Take no new jobs on host NAME, and move its jobs to other hosts (each once its replacement is up)."""
    client.patch(f"/hosts/{name}/", {"drained": True})
    click.echo(f"{name} is drained: its jobs move to other hosts as they can take them.")


@hosts.command("undrain")
@click.argument("name")
@pass_client
def hosts_undrain(client, name):
    """Let host NAME take jobs again."""
    client.patch(f"/hosts/{name}/", {"drained": False})
    click.echo(f"{name} takes jobs again.")


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def constraints(ctx, client, as_json):
    """List the host tags each process type's jobs need (set and unset: subcommands)."""
    if ctx.invoked_subcommand:
        return
    answer = client.get(f"/apps/{current_app()}/constraints/")
    if as_json:
        echo_json(answer)
    elif not answer["constraints"]:
        click.echo("Every process type runs on any host.")
    else:
        echo_table([[ptype, ", ".join(tags)] for ptype, tags in sorted(answer["constraints"].items())])


@constraints.command("set")
@click.argument("process_type")
@click.argument("tags", nargs=-1, required=True)
@app_option
@pass_client
def constraints_set(client, process_type, tags):
    """Run PROCESS_TYPE's jobs only on hosts with every one of TAGS; they move there one by one."""
    app = current_app()
    client.patch(f"/apps/{app}/constraints/", {process_type: list(tags)})
    click.echo(f"{app}: {process_type} runs on hosts tagged {', '.join(tags)}.")


@constraints.command("unset")
@click.argument("process_type")
@app_option
@pass_client
def constraints_unset(client, process_type):
    """Let PROCESS_TYPE's jobs run on any host."""
    app = current_app()
    client.patch(f"/apps/{app}/constraints/", {process_type: None})
    click.echo(f"{app}: {process_type} runs on any host.")
