"""REST endpoint for an app's traffic metrics, as the router measured them."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import selectors
from paas.errors import InvalidInput
from releases.models import Release
from scheduler.traffic import traffic_series

MINUTES_MAX = 48 * 60


class TrafficMinuteSerializer(serializers.Serializer):
    minute = serializers.DateTimeField()
    process_type = serializers.CharField()
    requests = serializers.IntegerField()
    rps = serializers.FloatField(help_text="Requests per second over the minute")
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(help_text="The share of answers with a 5xx status")


class DeployMarkSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    at = serializers.DateTimeField()
    description = serializers.CharField()


class TrafficSerializer(serializers.Serializer):
    minutes = TrafficMinuteSerializer(many=True)
    deploys = DeployMarkSerializer(many=True, help_text="Releases made in the same time, to mark on a chart")


class AppMetricsApi(APIView):
    """The app's traffic through the router, minute by minute (requests, latency percentiles, 5xx share), with
    the releases made meanwhile."""

    @extend_schema(
        parameters=[OpenApiParameter("minutes", OpenApiTypes.INT, description=f"How far back (1-{MINUTES_MAX})")],
        responses=TrafficSerializer,
    )
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        minutes = _minutes(request.query_params.get("minutes", "60"))
        series = traffic_series(app=app, minutes=minutes)
        releases = Release.objects.filter(app=app, created_at__gte=series[0]["minute"]).order_by("version")
        deploys = [{"version": r.version, "at": r.created_at, "description": r.description} for r in releases]
        return Response(TrafficSerializer({"minutes": series, "deploys": deploys}).data)


def _minutes(text: str) -> int:
    try:
        minutes = int(text)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MINUTES_MAX:
        raise InvalidInput(f"minutes must be a whole number from 1 to {MINUTES_MAX}, not {text!r}")
    return minutes
