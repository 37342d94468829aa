"""Domain names as users type them, who may have them, and certificates users give."""

import pytest

from apps.domains import (
    certificate_check,
    domain_add,
    domain_certificate_remove,
    domain_certificate_set,
    domain_name_clean,
    domain_remove,
    domains_list,
)
from apps.models import Domain, Event, EventAction
from paas.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from tests.factories import make_app
from tests.router.certs import certificate_pem


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("www.Example.COM", "www.example.com"),
        ("  www.example.com.  ", "www.example.com"),
        ("*.example.com", "*.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("*.münchen.de", "*.xn--mnchen-3ya.de"),
        ("a-b.c-d.io", "a-b.c-d.io"),
    ],
)
def test_names_are_kept_as_the_router_matches_them(typed, clean):
    assert domain_name_clean(typed) == clean


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "give a domain name"),
        ("https://www.example.com", "no scheme, port or path"),
        ("www.example.com:8443", "no scheme, port or path"),
        ("www.example.com/shop", "no scheme, port or path"),
        ("www example.com", "no scheme, port or path"),
        ("www.*.example.com", "a wildcard may only be the whole first label"),
        ("*example.com", "a wildcard may only be the whole first label"),
        ("example", "not a full domain name"),
        ("-www.example.com", "'-www' is not a valid label"),
        ("www_1.example.com", "'www_1' is not a valid label"),
        (f"{'a' * 64}.example.com", "is not a valid label"),
        (".".join(["abcdefgh"] * 30) + ".com", "longer than a domain name may be"),
        ("10.0.0.1", "is an IP address"),
        ("shop.localhost", "names under localhost are the platform's own"),
        ("*.localhost", "names under localhost are the platform's own"),
    ],
)
def test_what_is_not_a_domain_name_is_refused_saying_why(typed, says):
    with pytest.raises(InvalidInput, match=says.replace("*", r"\*").replace("(", r"\(")):
        domain_name_clean(typed)


@pytest.mark.django_db
def test_a_domain_belongs_to_one_app(driver):
    shop, blog = make_app("shop"), make_app("blog")
    domain = domain_add(app=shop, name="WWW.example.com", actor=shop.owner)
    assert domain.name == "www.example.com"
    assert Event.objects.filter(app=shop, action=EventAction.DOMAIN_ADD, detail="www.example.com").exists()
    with pytest.raises(Conflict, match="www.example.com is another app's"):
        domain_add(app=blog, name="www.example.com", actor=blog.owner)
    with pytest.raises(Conflict, match="www.example.com is shop's already"):
        domain_add(app=shop, name="www.example.com", actor=shop.owner)
    domain_remove(app=shop, name="www.example.com", actor=shop.owner)
    assert domain_add(app=blog, name="www.example.com", actor=blog.owner).app == blog
    with pytest.raises(NotFound, match="shop has no domain www.example.com"):
        domain_remove(app=shop, name="www.example.com", actor=shop.owner)


@pytest.mark.django_db
def test_an_app_has_at_most_its_quota_of_domains(driver, settings):
    settings.PAAS_QUOTA_DOMAINS = 2
    shop = make_app("shop")
    for name in ("a.example.com", "b.example.com"):
        domain_add(app=shop, name=name, actor=shop.owner)
    with pytest.raises(QuotaExceeded, match="PAAS_QUOTA_DOMAINS"):
        domain_add(app=shop, name="c.example.com", actor=shop.owner)


@pytest.mark.django_db
def test_the_list_shows_the_default_name_then_each_domain_with_its_certificate(driver, settings):
    shop = make_app("shop")
    domain_add(app=shop, name="www.shop.com", actor=shop.owner)
    domain_add(app=shop, name="shop.test", actor=shop.owner)
    cert, key = certificate_pem("shop.test", days=90)
    domain_certificate_set(app=shop, name="shop.test", certificate=cert, key=key, actor=shop.owner)
    views = domains_list(app=shop)
    assert [(view.name, view.kind, view.certificate) for view in views] == [
        ("shop.localhost", "default", "internal"),
        ("shop.test", "custom", "own"),
        ("www.shop.com", "custom", "internal"),
    ]
    assert views[1].expires_at == Domain.objects.get(name="shop.test").certificate_expires_at
    settings.PAAS_ACME_EMAIL = "ops@shop.com"
    assert [view.certificate for view in domains_list(app=shop)] == ["internal", "own", "acme"]
    domain_certificate_remove(app=shop, name="shop.test", actor=shop.owner)
    assert Domain.objects.get(name="shop.test").certificate_key == ""


def test_a_certificate_must_go_with_its_key_cover_the_name_and_be_valid_now():
    cert, key = certificate_pem("*.shop.com", "shop.com")
    assert certificate_check("www.shop.com", cert, key)
    assert certificate_check("shop.com", cert, key)
    with pytest.raises(InvalidInput, match="the certificate is not for a.b.shop.com: it names"):
        certificate_check("a.b.shop.com", cert, key)
    _, other_key = certificate_pem("shop.com")
    with pytest.raises(InvalidInput, match="the key does not go with the certificate"):
        certificate_check("shop.com", cert, other_key)
    with pytest.raises(InvalidInput, match="not a PEM certificate"):
        certificate_check("shop.com", "hello", key)
    with pytest.raises(InvalidInput, match="not an unencrypted PEM private key"):
        certificate_check("shop.com", cert, "hello")
    expired, expired_key = certificate_pem("shop.com", days=1, starts_in_days=-10)
    with pytest.raises(InvalidInput, match="the certificate expired on"):
        certificate_check("shop.com", expired, expired_key)
