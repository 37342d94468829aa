"""REST endpoints for hosts (platform operators only)."""

from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from hosts import services
from hosts.models import Host
from paas.errors import NotFound


class HostSerializer(serializers.ModelSerializer):
    jobs = serializers.IntegerField(source="active_jobs", read_only=True, help_text="Jobs it runs or is starting")

    class Meta:
        model = Host
        fields = ["name", "docker_url", "address", "agent", "state", "heartbeat_at", "memory", "cpus", "containers"]
        fields += ["tags", "drained", "jobs"]


class HostChangeSerializer(serializers.Serializer):
    tags = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9._-]{0,29}$"),
        required=False,
        max_length=20,
        help_text="Its tags, all of them (lowercase letters, digits, dots, dashes)",
    )
    drained = serializers.BooleanField(required=False, help_text="Take no new jobs, and move its jobs away")


def _hosts():
    from scheduler.models import ACTIVE_STATES

    return Host.objects.annotate(active_jobs=Count("jobs", filter=Q(jobs__state__in=ACTIVE_STATES)))


class HostListApi(APIView):
    """Lists the hosts jobs run on, with their capacity, tags and load."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=HostSerializer(many=True))
    def get(self, request):
        return Response(HostSerializer(_hosts(), many=True).data)


class HostDetailApi(APIView):
    """PATCH a host's tags (what process types' constraints match) or drain it (its jobs move to other hosts)."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=HostChangeSerializer, responses=HostSerializer)
    def patch(self, request, name):
        host = Host.objects.filter(name=name).first()
        if host is None:
            raise NotFound(f"host {name!r} not found; `paas hosts` lists them")
        params = HostChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.host_change(host=host, actor=request.user, **params.validated_data)
        return Response(HostSerializer(_hosts().get(pk=host.pk)).data)
