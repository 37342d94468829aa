"""REST endpoints for hosts."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from hosts.models import Host


class HostSerializer(serializers.ModelSerializer):
    class Meta:
        model = Host
        fields = ["name", "docker_url", "address", "state", "heartbeat_at"]


class HostListApi(APIView):
    """Lists the hosts jobs run on (platform operators only)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=HostSerializer(many=True))
    def get(self, request):
        return Response(HostSerializer(Host.objects.all(), many=True).data)
