"""REST endpoints for jobs, and for how far a rollout has got."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.selectors import formation_get
from releases.selectors import release_get
from scheduler.models import Job
from scheduler.selectors import ROLLOUT_STATES, deploy_status, job_list, rollout_status


class JobSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk")
    release = serializers.IntegerField(source="release.version")
    host = serializers.CharField(source="host.name", default=None, allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "process_type",
            "index",
            "release",
            "state",
            "host",
            "host_port",
            "container_id",
            "exit_code",
            "error",
            "restarts",
            "started_at",
            "updated_at",
        ]


class RolloutSerializer(serializers.Serializer):
    release = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=ROLLOUT_STATES)
    message = serializers.CharField(allow_blank=True)


class RolloutParams(serializers.Serializer):
    release = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class JobListApi(APIView):
    """Lists an app's jobs: what runs where, and in which state."""

    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(JobSerializer(job_list(app=app), many=True).data)


class RolloutApi(APIView):
    """Whether the app's jobs have all been replaced by the current release (or by release `release`)."""

    @extend_schema(
        parameters=[OpenApiParameter("release", int, description="Follow this release's deploy instead")],
        responses=RolloutSerializer,
    )
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        params = RolloutParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        if "release" in params.validated_data:
            release = release_get(app=app, version=params.validated_data["release"])
            status = deploy_status(release=release)
        else:
            formation = formation_get(app=app)
            release = formation.release
            status = rollout_status(formation=formation)
        version = release.version if release else None
        return Response({"release": version, "state": status.state, "message": status.message})
