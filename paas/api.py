"""The API root: what a client needs to know about this platform."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

import paas


class ApiRootSerializer(serializers.Serializer):
    version = serializers.CharField()
    user = serializers.CharField()
    is_staff = serializers.BooleanField()
    ssh_port = serializers.IntegerField()
    domain = serializers.CharField()
    router_port = serializers.IntegerField()


class ApiRootApi(APIView):
    """Tells the caller who they are, the server's version, and where git pushes and apps are reached."""

    @extend_schema(responses=ApiRootSerializer)
    def get(self, request):
        return Response(
            {
                "version": paas.__version__,
                "user": request.user.username,
                "is_staff": request.user.is_staff,
                "ssh_port": settings.PAAS_SSH_PORT,
                "domain": settings.PAAS_DOMAIN,
                "router_port": settings.PAAS_ROUTER_PORT,
            }
        )
