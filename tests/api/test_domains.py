"""An app's domains, their certificates and its HTTPS redirect, through the REST API."""

from apps.models import App
from tests.api.resources import AppResourceTests
from tests.factories import make_app
from tests.router.certs import certificate_pem


class TestDomains(AppResourceTests):
    path = "domains/"

    def test_the_default_name_then_added_domains(self, api, user):
        make_app("shop", owner=user)
        added = api.post("/api/apps/shop/domains/", {"name": "WWW.Shop.com"}, format="json")
        assert added.status_code == 201, added.json()
        assert added.json() == {"name": "www.shop.com", "kind": "custom", "certificate": "internal", "expires_at": None}
        names = [domain["name"] for domain in api.get("/api/apps/shop/domains/").json()]
        assert names == ["shop.localhost", "www.shop.com"]

    def test_a_bad_name_is_400_and_a_taken_one_409(self, api, user):
        make_app("shop", owner=user)
        make_app("blog", owner=user)
        bad = api.post("/api/apps/shop/domains/", {"name": "https://shop.com/"}, format="json")
        assert bad.status_code == 400 and "no scheme, port or path" in bad.json()["error"]
        assert api.post("/api/apps/shop/domains/", {"name": "shop.com"}, format="json").status_code == 201
        taken = api.post("/api/apps/blog/domains/", {"name": "shop.com"}, format="json")
        assert taken.status_code == 409 and "another app's" in taken.json()["error"]

    def test_a_domain_is_removed(self, api, user):
        make_app("shop", owner=user)
        api.post("/api/apps/shop/domains/", {"name": "*.shop.com"}, format="json")
        assert api.delete("/api/apps/shop/domains/*.shop.com/").status_code == 204
        assert api.delete("/api/apps/shop/domains/*.shop.com/").status_code == 404

    def test_a_users_certificate_is_taken_and_its_key_never_shown(self, api, user):
        make_app("shop", owner=user)
        api.post("/api/apps/shop/domains/", {"name": "shop.com"}, format="json")
        cert, key = certificate_pem("shop.com")
        pair = {"certificate": cert, "key": key}
        answer = api.put("/api/apps/shop/domains/shop.com/certificate/", pair, format="json")
        assert answer.status_code == 200, answer.json()
        assert answer.json()["certificate"] == "own" and answer.json()["expires_at"]
        assert "PRIVATE KEY" not in api.get("/api/apps/shop/domains/").content.decode()
        _, wrong_key = certificate_pem("shop.com")
        refused = api.put(
            "/api/apps/shop/domains/shop.com/certificate/", {"certificate": cert, "key": wrong_key}, format="json"
        )
        assert refused.status_code == 400 and "does not go with the certificate" in refused.json()["error"]
        assert api.delete("/api/apps/shop/domains/shop.com/certificate/").status_code == 204

    def test_the_https_redirect_is_switched_on_and_off(self, api, user):
        make_app("shop", owner=user)
        assert api.get("/api/apps/shop/router/").json() == {"redirect_https": False}
        on = api.patch("/api/apps/shop/router/", {"redirect_https": True}, format="json")
        assert on.status_code == 200 and on.json() == {"redirect_https": True}
        assert App.objects.get(name="shop").redirect_https
