"""REST endpoints for an app's domains, their certificates, and its HTTP-to-HTTPS redirect."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import domains, selectors


class DomainSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The host name (IDNA form); `*.example.com` is a wildcard of one label")
    kind = serializers.ChoiceField(choices=["default", "custom"], help_text="default: APP.PAAS_DOMAIN")
    certificate = serializers.ChoiceField(
        choices=["internal", "acme", "own"], help_text="The router's CA, ACME (PAAS_ACME_EMAIL), or the user's own"
    )
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When its certificate expires, once known")


class DomainAddSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300)


class CertificateSerializer(serializers.Serializer):
    certificate = serializers.CharField(help_text="PEM: the certificate, then its chain", max_length=200_000)
    key = serializers.CharField(help_text="PEM: its unencrypted private key; never shown again", max_length=50_000)


class RouterSettingsSerializer(serializers.Serializer):
    redirect_https = serializers.BooleanField(help_text="Plain HTTP requests are redirected to HTTPS")


class AppDomainListApi(APIView):
    """The names an app answers at (its default one first); POST adds a custom domain."""

    @extend_schema(responses=DomainSerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(DomainSerializer(domains.domains_list(app=app), many=True).data)

    @extend_schema(request=DomainAddSerializer, responses={201: DomainSerializer})
    def post(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = DomainAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        domain = domains.domain_add(app=app, name=params.validated_data["name"], actor=request.user)
        return Response(DomainSerializer(domains.domain_view(domain)).data, status=status.HTTP_201_CREATED)


class AppDomainDetailApi(APIView):
    """Removes a custom domain: the app no longer answers at it."""

    @extend_schema(responses={204: None})
    def delete(self, request, name, domain):
        app = selectors.app_get(user=request.user, name=name)
        domains.domain_remove(app=app, name=domain, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppDomainCertificateApi(APIView):
    """PUT serves a domain with the user's own certificate and key; DELETE goes back to the router's."""

    @extend_schema(request=CertificateSerializer, responses=DomainSerializer)
    def put(self, request, name, domain):
        app = selectors.app_get(user=request.user, name=name)
        params = CertificateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        done = domains.domain_certificate_set(app=app, name=domain, actor=request.user, **params.validated_data)
        return Response(DomainSerializer(domains.domain_view(done)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, name, domain):
        app = selectors.app_get(user=request.user, name=name)
        domains.domain_certificate_remove(app=app, name=domain, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppRouterSettingsApi(APIView):
    """How the router serves the app: PATCH `{"redirect_https": true}` redirects plain HTTP to HTTPS."""

    @extend_schema(responses=RouterSettingsSerializer)
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(RouterSettingsSerializer(app).data)

    @extend_schema(request=RouterSettingsSerializer, responses=RouterSettingsSerializer)
    def patch(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = RouterSettingsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app = domains.redirect_https_set(app=app, redirect=params.validated_data["redirect_https"], actor=request.user)
        return Response(RouterSettingsSerializer(app).data)
