"""The route table, a pure function of the database; and the Caddy configuration made from it."""

import json

import pytest

from apps.domains import domain_add, domain_certificate_set, redirect_https_set
from formations.services import formation_scale
from scheduler import router
from scheduler.models import Job, JobState
from scheduler.router import caddy_config, router_sync
from scheduler.routes import Certificate, Route, RouteTable, route_table
from scheduler.services import reconcile
from tests.factories import deploy, make_app
from tests.router.certs import certificate_pem

pytestmark = pytest.mark.django_db


def _serving(name: str):
    """An app with one web job up."""
    app = make_app(name)
    deploy(app)
    for _ in range(3):
        reconcile()
    return app


def test_each_app_answers_at_its_default_name_with_its_healthy_web_jobs(driver):
    shop = _serving("shop")
    make_app("idle")  # no release: 503
    table = route_table()
    [job] = Job.objects.filter(app=shop, state=JobState.UP)
    assert table.route_for("shop.localhost") == Route(
        "shop.localhost", "shop", (f"127.0.0.1:{job.host_port}",), job_ids=(job.pk,)
    )
    assert table.route_for("idle.localhost").upstreams == ()
    assert table.route_for("nothing.localhost") is None
    assert route_table() == table  # same state, same table


def test_a_web_job_being_stopped_leaves_the_routes_for_the_draining_upstreams(driver):
    shop = _serving("shop")
    [job] = Job.objects.filter(app=shop, state=JobState.UP)
    upstream = f"127.0.0.1:{job.host_port}"
    formation_scale(app=shop, counts={"web": 0}, actor=shop.owner)
    reconcile()  # no request in flight: stopped as it leaves
    table = route_table()
    assert table.route_for("shop.localhost").upstreams == () and table.draining == (upstream,)
    Job.objects.filter(pk=job.pk).update(state=JobState.STOPPED)
    assert route_table().draining == ()


def test_a_web_job_never_routed_has_nothing_to_drain(driver):
    shop = make_app("shop")
    deploy(shop)
    driver.unhealthy.add("local-c1")
    reconcile()  # started, never healthy: never routed
    Job.objects.filter(app=shop).update(state=JobState.STOPPING)
    assert route_table().draining == ()


def test_a_drained_upstream_alone_does_not_reload_the_router_a_new_one_does():
    route = Route("shop.localhost", "shop", ("10.0.0.2:5000",))
    held = RouteTable(routes=(route,), draining=("10.0.0.1:5000",))
    assert RouteTable(routes=(route,)).held_by(held)  # 10.0.0.1 drained: it goes with the next reload
    assert not RouteTable(routes=(route,), draining=("10.0.0.3:5000",)).held_by(held)
    assert not RouteTable(routes=(), draining=("10.0.0.1:5000",)).held_by(held)
    assert not RouteTable().held_by(None)  # a router that holds nothing


def test_custom_domains_route_to_their_app_and_the_most_specific_name_wins(driver):
    shop, blog = _serving("shop"), _serving("blog")
    for name in ("*.example.com", "www.example.com"):
        domain_add(app=shop, name=name, actor=shop.owner)
    domain_add(app=blog, name="*.blog.example.com", actor=blog.owner)
    domain_add(app=blog, name="blog.example.com", actor=blog.owner)
    table = route_table()
    assert table.route_for("www.example.com").app == "shop"
    assert table.route_for("shop2.example.com").app == "shop"  # the wildcard
    assert table.route_for("blog.example.com").app == "blog"  # exact beats the *.example.com wildcard
    assert table.route_for("my.blog.example.com").app == "blog"  # two labels more specific than one
    assert table.route_for("a.b.example.com") is None  # a wildcard covers one label
    assert table.route_for("example.com") is None
    hosts = [route.host for route in table.routes]
    assert hosts.index("*.blog.example.com") < hosts.index("*.example.com")
    assert all(not host.startswith("*") for host in hosts[: hosts.index("*.blog.example.com")])


def test_a_redirecting_app_and_a_users_certificate_are_in_the_table(driver):
    shop = _serving("shop")
    domain_add(app=shop, name="www.shop.test", actor=shop.owner)
    cert, key = certificate_pem("www.shop.test")
    domain_certificate_set(app=shop, name="www.shop.test", certificate=cert, key=key, actor=shop.owner)
    redirect_https_set(app=shop, redirect=True, actor=shop.owner)
    table = route_table()
    assert table.route_for("www.shop.test").redirect_https and table.route_for("shop.localhost").redirect_https
    [certificate] = table.certificates
    assert (certificate.host, certificate.certificate, certificate.key) == ("www.shop.test", cert, key)


def test_the_router_is_loaded_with_the_table_and_only_when_it_changed(driver, monkeypatch):
    shop = _serving("shop")
    router_sync()
    assert router.MemoryRouter.table == route_table()
    loads = []
    monkeypatch.setattr(router.MemoryRouter, "load", lambda self, table: loads.append(table))
    router_sync()
    assert loads == []
    domain_add(app=shop, name="www.shop.test", actor=shop.owner)
    router_sync()
    assert {route.host for route in loads[0].routes} == {"shop.localhost", "www.shop.test"}


# The Caddy configuration of a table

TABLE = RouteTable(
    routes=(
        Route("shop.localhost", "shop", ("127.0.0.1:40001",)),
        Route("www.shop.com", "shop", ("127.0.0.1:40001",)),
        Route("*.shop.com", "shop", ("127.0.0.1:40001",), redirect_https=True),
        Route("idle.localhost", "idle", ()),
    )
)


def _server(config: dict, name: str) -> dict:
    return config["apps"]["http"]["servers"][name]


def _route(config: dict, server: str, host: str) -> dict:
    return next(route for route in _server(config, server)["routes"] if route.get("match") == [{"host": [host]}])


def test_caddy_serves_http_and_https_on_their_ports_in_the_tables_order(settings):
    settings.PAAS_ROUTER_PORT, settings.PAAS_ROUTER_TLS_PORT = 8080, 8443
    config = caddy_config(TABLE)
    plain, secure = _server(config, "paas"), _server(config, "paas-tls")
    assert (plain["listen"], secure["listen"]) == ([":8080"], [":8443"])
    assert "tls_connection_policies" not in plain and secure["tls_connection_policies"] == [{}]
    for server in (plain, secure):
        hosts = [route["match"][0]["host"][0] for route in server["routes"] if "match" in route]
        assert hosts == [route.host for route in TABLE.routes]
        assert server["routes"][-1]["handle"][0]["status_code"] == 404


def test_draining_upstreams_are_named_by_a_route_no_request_matches(settings):
    config = caddy_config(RouteTable(routes=TABLE.routes, draining=("127.0.0.1:40009",)))
    draining = _server(config, "paas")["routes"][-1]
    assert draining["match"] == [{"expression": "false"}]
    assert draining["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:40009"}]
    assert "127.0.0.1:40009" not in json.dumps(_server(config, "paas-tls"))  # once is enough: the pool is shared


def test_caddy_holding_more_draining_upstreams_than_the_table_needs_holds_it(monkeypatch):
    held = RouteTable(routes=TABLE.routes, draining=("127.0.0.1:40009",))
    monkeypatch.setattr(router, "router_current", lambda: caddy_config(held))
    monkeypatch.setattr(router, "router_ca_copy", lambda: None)
    assert router.CaddyRouter().holds(RouteTable(routes=TABLE.routes))
    assert not router.CaddyRouter().holds(RouteTable(routes=TABLE.routes, draining=("127.0.0.1:40010",)))
    assert not router.CaddyRouter().holds(RouteTable(routes=TABLE.routes[:1], draining=held.draining))


def test_caddy_reports_the_requests_in_flight_per_upstream(monkeypatch):
    listed = [
        {"address": "10.0.0.1:5000", "num_requests": 2, "fails": 0},
        {"address": "10.0.0.2:5000", "num_requests": 0},
    ]
    monkeypatch.setattr(router, "router_admin", lambda *args, **kwargs: (200, json.dumps(listed).encode()))
    assert router.CaddyRouter().in_flight() == {"10.0.0.1:5000": 2}
    for status, answer in ((500, b"[]"), (200, b"not json"), (200, b'[{"address": "x"}]'), (200, b"{}")):
        monkeypatch.setattr(
            router, "router_admin", lambda *args, answer=answer, status=status, **kwargs: (status, answer)
        )
        with pytest.raises(router.RouterError, match="caddy did not list its upstreams"):
            router.CaddyRouter().in_flight()


def test_the_proxy_adds_a_request_id_forwarded_host_and_a_body_limit(settings):
    settings.PAAS_ROUTER_MAX_BODY = 1024
    request_id, body_limit, upstream, proxy = _route(caddy_config(TABLE), "paas", "shop.localhost")["handle"]
    assert request_id["handler"] == "subroute"
    assert request_id["routes"][0]["match"] == [{"not": [{"header": {"X-Request-Id": ["*"]}}]}]
    assert request_id["routes"][0]["handle"][0]["request"]["set"] == {"X-Request-Id": ["{http.request.uuid}"]}
    assert request_id["routes"][1]["handle"][1] == {
        "handler": "log_append",
        "key": "request_id",
        "value": "{http.request.header.X-Request-Id}",
    }
    assert body_limit == {"handler": "request_body", "max_size": 1024}
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:40001"}]
    assert proxy["headers"]["request"]["set"]["X-Forwarded-Host"] == ["{http.request.host}"]
    assert upstream == {"handler": "log_append", "key": "upstream", "value": "{http.reverse_proxy.upstream.hostport}"}


def test_streams_outlive_a_reload_for_as_long_as_a_replaced_job_has_to_finish(settings):
    settings.PAAS_STOP_GRACE = 12
    proxy = _route(caddy_config(TABLE), "paas", "shop.localhost")["handle"][-1]
    assert proxy["stream_close_delay"] == 12_000_000_000  # nanoseconds


def test_an_app_with_no_job_answers_503_saying_how_to_start_one():
    _, answer = _route(caddy_config(TABLE), "paas-tls", "idle.localhost")["handle"]
    assert answer["status_code"] == 503 and "paas scale web=1 -a idle" in answer["body"]


def test_a_redirecting_route_redirects_plain_http_only(settings):
    settings.PAAS_ROUTER_TLS_PORT = 8443
    config = caddy_config(TABLE)
    [redirect] = _route(config, "paas", "*.shop.com")["handle"]
    assert redirect["status_code"] == 308
    assert redirect["headers"]["Location"] == ["https://{http.request.host}:8443{http.request.uri}"]
    assert _route(config, "paas-tls", "*.shop.com")["handle"][-1]["handler"] == "reverse_proxy"
    settings.PAAS_ROUTER_TLS_PORT = 443
    [redirect] = _route(caddy_config(TABLE), "paas", "*.shop.com")["handle"]
    assert redirect["headers"]["Location"] == ["https://{http.request.host}{http.request.uri}"]


def test_certificates_come_from_the_routers_ca_acme_or_the_user(settings):
    cert, key = certificate_pem("www.shop.com")
    table = RouteTable(routes=TABLE.routes, certificates=(Certificate("www.shop.com", cert, key),))
    tls = caddy_config(table)["apps"]["tls"]
    assert tls["certificates"]["load_pem"] == [{"certificate": cert, "key": key, "tags": ["www.shop.com"]}]
    assert tls["certificates"]["automate"] == ["*.shop.com", "idle.localhost", "shop.localhost"]
    assert tls["automation"]["policies"] == [
        {"subjects": ["*.shop.com", "idle.localhost", "shop.localhost"], "issuers": [{"module": "internal"}]}
    ]
    settings.PAAS_ACME_EMAIL = "ops@shop.com"
    table = RouteTable(routes=(*TABLE.routes, Route("api.shop.com", "shop", ())))
    policies = caddy_config(table)["apps"]["tls"]["automation"]["policies"]
    assert policies == [
        {"subjects": ["*.shop.com", "idle.localhost", "shop.localhost"], "issuers": [{"module": "internal"}]},
        {"subjects": ["api.shop.com", "www.shop.com"], "issuers": [{"module": "acme", "email": "ops@shop.com"}]},
    ]
    assert caddy_config(table)["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False


def test_a_job_on_this_machines_engine_is_reached_at_its_own_address_others_at_their_hosts_port(driver):
    from hosts.models import Host

    shop = _serving("shop")
    job = Job.objects.get(app=shop, state=JobState.UP)
    Job.objects.filter(pk=job.pk).update(private_address="172.18.0.5:5000")
    assert route_table().route_for("shop.localhost").upstreams == ("172.18.0.5:5000",)  # no port proxy between
    Host.objects.filter(pk=job.host_id).update(docker_url="tcp://10.0.0.9:2375", address="10.0.0.9")
    assert route_table().route_for("shop.localhost").upstreams == (f"10.0.0.9:{job.host_port}",)
