"""REST endpoints for jobs, and for how far a rollout has got."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.selectors import formation_get
from releases.selectors import release_get
from scheduler.models import Job, JobState
from scheduler.selectors import ROLLOUT_STATES, deploy_status, job_list, limits_effective, limits_for, rollout_status


class JobLimitsSerializer(serializers.Serializer):
    memory = serializers.CharField()
    cpus = serializers.FloatField()
    pids = serializers.IntegerField()


class JobSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk")
    release = serializers.IntegerField(source="release.version")
    host = serializers.CharField(source="host.name", default=None, allow_null=True)
    reason = serializers.SerializerMethodField(help_text="Why it last stopped: out of memory, a failed check, exit N")
    uptime = serializers.SerializerMethodField(help_text="Seconds since it started, while it is up")
    limits = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField())
    def get_reason(self, job) -> str:
        if job.error:
            return job.error
        return f"exit {job.exit_code}" if job.exit_code is not None else ""

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_uptime(self, job) -> int | None:
        if job.state != JobState.UP or job.started_at is None:
            return None
        return int((timezone.now() - job.started_at).total_seconds())

    @extend_schema_field(JobLimitsSerializer)
    def get_limits(self, job) -> dict:
        return self.context.get("limits", {}).get(job.process_type) or limits_for({})

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
            "reason",
            "check_passes",
            "last_check",
            "uptime",
            "limits",
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
        limits = limits_effective(formation=formation_get(app=app))
        return Response(JobSerializer(job_list(app=app), many=True, context={"limits": limits}).data)


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
