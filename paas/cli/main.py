"""The `paas` command: a client of the platform's REST API (and `paas up`, which runs the platform)."""

import click

from paas.cli import (
    account,
    addons,
    apps,
    cron,
    domains,
    formation,
    hooks,
    hosts,
    images,
    links,
    logs,
    metrics,
    releases,
    run,
    runtime,
    users,
)
from paas.cli.client import ApiClient
from paas.cli.options import remember_app

# How `paas help` groups the commands, in the order a user meets them.
SECTIONS = (
    ("Getting started", ("login", "keys", "create", "apps", "info", "whoami")),
    ("Releases and config", ("releases", "rollback", "env", "builds", "deploy-image")),
    ("Running the app", ("scale", "ps", "restart", "logs", "run", "cron", "checks", "limits")),
    ("Backing services", ("addons", "volumes")),
    ("Sharing and accounts", ("access", "tokens", "users")),
    ("Watching and ending", ("events", "hooks", "destroy")),
    ("The platform and this CLI", ("up", "controller", "builder", "agent", "version", "completion", "help")),
)


class SectionedGroup(click.Group):
    """A command group whose help lists its commands in sections rather than alphabetically."""

    def list_commands(self, ctx):
        return [name for _, names in SECTIONS for name in names if name in self.commands]

    def format_commands(self, ctx, formatter):
        for title, names in SECTIONS:
            rows = [(name, self.commands[name].get_short_help_str(limit=80)) for name in names if name in self.commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(name="paas", cls=SectionedGroup)
@click.option(
    "-a",
    "--app",
    expose_value=False,
    callback=remember_app,
    help="The app every command acts on (also accepted after the command).",
)
@click.version_option(package_name="paas", message="paas CLI %(version)s")
@click.pass_context
def cli(ctx):
    """paas: git push to deploy, on your own machines."""
    ctx.obj = ApiClient.from_config()


@cli.command()
def up():
    """Run the whole platform in this process (API, git over SSH, builds, scheduler, router)."""
    from paas.runner import run

    run()


@cli.command()
def controller():
    """Run a cluster's controller: API, console, git over SSH, scheduler, router (needs DATABASE_URL and
    CELERY_BROKER_URL)."""
    from paas.runner import run_controller

    run_controller()


@cli.command()
@click.option("--concurrency", default=2, show_default=True, help="Builds run at once.")
def builder(concurrency):
    """Run a cluster's build worker, on the Docker engine of DOCKER_HOST."""
    from paas.runner import run_builder

    run_builder(concurrency)


@cli.command()
@click.option("--name", required=True, help="The host's name in `paas hosts`.")
@click.option("--docker-host", "docker_url", default="unix:///var/run/docker.sock", show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True, help="Where the router reaches its jobs' ports.")
def agent(name, docker_url, address):
    """Run the agent of one Docker host of a cluster: it runs the jobs the scheduler places there."""
    from paas.runner import run_agent

    run_agent(name=name, docker_url=docker_url, address=address)


@cli.command("help")
@click.argument("command", required=False)
@click.pass_context
def help_command(ctx, command):
    """Show the commands, grouped; `paas help COMMAND` shows one command's help."""
    root = ctx.find_root()
    if command is None:
        click.echo(root.get_help())
        return
    found = root.command.get_command(root, command)
    if found is None:
        raise click.UsageError(f"no command {command!r}; `paas help` lists them")
    with click.Context(found, info_name=command, parent=root) as sub:
        click.echo(found.get_help(sub))


for command in (
    account.login,
    account.keys,
    account.whoami,
    account.version,
    account.completion,
    apps.create,
    apps.apps_list,
    apps.info,
    apps.destroy,
    apps.events,
    releases.releases,
    releases.rollback,
    releases.env,
    releases.builds,
    images.deploy_image,
    formation.scale,
    formation.ps,
    formation.restart,
    logs.logs,
    run.run,
    cron.cron,
    runtime.checks,
    runtime.limits,
    domains.domains,
    domains.certs,
    metrics.metrics,
    links.links,
    links.discover,
    hosts.hosts,
    hosts.constraints,
    hooks.hooks,
    addons.addons,
    addons.volumes,
    users.access,
    users.tokens,
    users.users,
):
    cli.add_command(command)
