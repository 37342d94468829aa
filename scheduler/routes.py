"""The route table: which host names the router answers, and where it sends each one's traffic.

`route_table()` is a pure function of the database (same state, same table): every app answers at
APP.PAAS_DOMAIN and at its custom domains, and its traffic goes to its healthy web jobs on hosts that are up; the
web jobs being stopped are listed apart, as upstreams that get no traffic.
The routers (scheduler.router) turn the table into their own configuration; unit tests assert on the table.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from apps.models import App, Domain
from hosts.models import HostState
from scheduler.models import Job, JobKind, JobState


@dataclass(frozen=True)
class Route:
    """One host name (exact, or a `*.` wildcard of one label) and the app that answers it."""

    host: str
    app: str
    upstreams: tuple[str, ...]  # "ADDRESS:PORT" of the app's routed web jobs; none: the app answers 503
    redirect_https: bool = False  # plain HTTP answers with a redirect to HTTPS
    job_ids: tuple[int, ...] = ()  # the jobs behind `upstreams`, in the same order


@dataclass(frozen=True)
class Certificate:
    """A certificate and key a user gave for one of their domains (PEM)."""

    host: str
    certificate: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class RouteTable:
    """Every route, the most specific first (exact names, then wildcards of more labels before fewer), and the
    certificates users gave."""

    routes: tuple[Route, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    draining: tuple[str, ...] = ()  # upstreams of jobs out of the routes, being stopped: no traffic, but counted

    def route_for(self, host: str) -> Route | None:
        """The route that answers `host`, as the router picks it: the exact name, else the most specific wildcard."""
        host = host.lower().rstrip(".")
        for route in self.routes:
            if route.host == host or (route.host.startswith("*.") and _wildcard_matches(route.host, host)):
                return route
        return None

    def held_by(self, held: "RouteTable | None") -> bool:
        """Whether a router holding `held` serves this table: the same routes and certificates, and at least its
        draining upstreams (one drained since is left for the next reload: it is never sent a request)."""
        return (
            held is not None
            and (held.routes, held.certificates) == (self.routes, self.certificates)
            and set(self.draining) <= set(held.draining)
        )

    def upstreams(self) -> dict[str, tuple[str, ...]]:
        """Host name -> upstreams."""
        return {route.host: route.upstreams for route in self.routes}


def _wildcard_matches(wildcard: str, host: str) -> bool:
    """`*.example.com` matches one more label: www.example.com, not example.com nor a.b.example.com."""
    label, _, rest = host.partition(".")
    return bool(label) and rest == wildcard[2:]


def specificity(host: str) -> tuple[int, int, str]:
    """Sorts routes as the router must try them: exact names first, then wildcards with more labels first."""
    wildcard = host.startswith("*.")
    return (1 if wildcard else 0, -host.count("."), host)


def address_text(address: tuple[str, int] | None) -> str:
    """("10.1.2.3", 5000) -> "10.1.2.3:5000"; None -> ""."""
    return f"{address[0]}:{address[1]}" if address else ""


def address_parse(text: str) -> tuple[str, int] | None:
    """ "10.1.2.3:5000" -> ("10.1.2.3", 5000); "" (or garbage) -> None."""
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def job_upstream(job: Job) -> str:
    """Where the router reaches a web job: its own address on its host's container network when the host is this
    machine's engine (no port proxy in between), else the host's address and the job's published port. A host run
    by an agent is another machine's, as far as the router knows, whatever its engine's URL is."""
    return _upstream(job.private_address, job.host.docker_url, job.host.agent, job.host.address, job.host_port)


def _upstream(private_address: str, docker_url: str, agent: bool, host_address: str, host_port) -> str:
    if private_address and docker_url.startswith("unix://") and not agent:
        return private_address
    return f"{host_address}:{host_port}"


@dataclass(frozen=True)
class RoutedJob:
    """A web job the router sends traffic to: its id, its name (web.2) and where the router reaches it."""

    pk: int
    name: str
    upstream: str


def routed_jobs() -> dict[str, list[RoutedJob]]:
    """App name -> its web jobs that are up (of every release, during a deploy); every app has an entry. Read as
    rows: a pass reads every one."""
    routes: dict[str, list[RoutedJob]] = {name: [] for name in App.objects.values_list("name", flat=True)}
    jobs = Job.objects.filter(
        kind=JobKind.FORMATION, process_type="web", state=JobState.UP, host__state=HostState.UP, host_port__isnull=False
    ).order_by("app__name", "index", "pk")
    columns = ("pk", "app__name", "index", "private_address", "host__docker_url", "host__agent", "host__address")
    columns += ("host_port",)
    for pk, app, index, *where in jobs.values_list(*columns):
        routes[app].append(RoutedJob(pk, f"web.{index}", _upstream(*where)))
    return routes


def route_table() -> RouteTable:
    """The route table of the platform as the database has it now."""
    jobs = routed_jobs()
    redirects = set(App.objects.filter(redirect_https=True).values_list("name", flat=True))
    hosts = [(f"{name}.{settings.PAAS_DOMAIN}", name) for name in jobs]
    domains = Domain.objects.select_related("app").order_by("name")
    hosts += [(domain.name, domain.app.name) for domain in domains]
    routes = [
        Route(
            host=host,
            app=app,
            upstreams=tuple(job.upstream for job in jobs[app]),
            redirect_https=app in redirects,
            job_ids=tuple(job.pk for job in jobs[app]),
        )
        for host, app in sorted(hosts, key=lambda pair: specificity(pair[0]))
    ]
    certificates = tuple(
        Certificate(domain.name, domain.certificate, domain.certificate_key) for domain in domains if domain.certificate
    )
    return RouteTable(routes=tuple(routes), certificates=certificates, draining=draining_upstreams())


def draining_jobs() -> list[Job]:
    """Web jobs that left the routes and are being stopped, on hosts that are up. The router sends them nothing new
    but keeps counting the requests it still has in flight to them, so that a job is stopped only once those are
    answered (scheduler.services._drain_stopping)."""
    jobs = Job.objects.filter(
        kind=JobKind.FORMATION, process_type="web", state=JobState.STOPPING, host__state=HostState.UP
    ).exclude(host_port__isnull=True)
    jobs = jobs.filter(Q(routed_at__isnull=False) | Q(unrouted_at__isnull=False))  # routed once: it may have some
    return list(jobs.select_related("app", "host"))


def draining_upstreams() -> tuple[str, ...]:
    """The upstreams of draining_jobs(), sorted."""
    return tuple(sorted({job_upstream(job) for job in draining_jobs()}))
