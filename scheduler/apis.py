"""REST endpoints for jobs, one-off runs, how far a rollout has got, and where an app's jobs answer."""

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.selectors import formation_get
from releases.selectors import release_get
from releases.services import config_validate_changes
from scheduler import runs
from scheduler.discovery import endpoint_list
from scheduler.models import Job, JobState
from scheduler.oneoff import release_phase_get
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
            "kind",
            "command",
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


class ReleasePhaseSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=("pending", "running", "succeeded", "failed"))
    output = serializers.CharField(allow_blank=True, help_text="What it printed, from `output_from` on")
    offset = serializers.IntegerField(help_text="Ask with output_from=offset for the output that follows")
    exit_code = serializers.IntegerField(allow_null=True)


class RolloutSerializer(serializers.Serializer):
    release = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=ROLLOUT_STATES)
    message = serializers.CharField(allow_blank=True)
    release_phase = ReleasePhaseSerializer(allow_null=True, help_text="The release's release phase, if it has one")


class RolloutParams(serializers.Serializer):
    release = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    output_from = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1, default=0)


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
        phase = release and release_phase_get(release=release, offset=params.validated_data["output_from"])
        return Response(
            {
                "release": version,
                "state": status.state,
                "message": status.message,
                "release_phase": phase and ReleasePhaseSerializer(phase).data,
            }
        )


class EndpointSerializer(serializers.Serializer):
    job = serializers.CharField(help_text="The job's name: web.1")
    process_type = serializers.CharField()
    index = serializers.IntegerField()
    release = serializers.IntegerField(help_text="The version of the release it runs")
    host = serializers.CharField(help_text="The host it runs on")
    port = serializers.IntegerField(help_text="Its $PORT, inside its container")
    address = serializers.CharField(
        allow_null=True, help_text="HOST_ADDRESS:HOST_PORT, where the router reaches it; null when it publishes none"
    )
    internal = serializers.CharField(
        help_text="TYPE.APP.internal:PORT, where the app's own jobs on the same host reach it (TYPE.INDEX.APP.internal "
        "is this job alone); no other app's job resolves it"
    )


class DiscoverParams(serializers.Serializer):
    process = serializers.RegexField(
        r"^[A-Za-z0-9_-]+$",
        max_length=30,
        required=False,
        error_messages={"invalid": "give a process type, such as web or worker: letters, digits, - and _"},
    )

    def validate_process(self, process: str) -> str:
        return process.lower()  # as a Procfile's are kept


class DiscoverApi(APIView):
    """Where the app's healthy jobs (up, on a host that is up) answer: for the router, and on the app's own network,
    where its other jobs reach them by name. A process type the app does not run answers an empty list."""

    @extend_schema(
        parameters=[OpenApiParameter("process", str, description="Only this process type's jobs (web, worker)")],
        responses=EndpointSerializer(many=True),
    )
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        params = DiscoverParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        endpoints = endpoint_list(app=app, process_type=params.validated_data.get("process"))
        return Response(EndpointSerializer(endpoints, many=True).data)


class RunSerializer(serializers.Serializer):
    command = serializers.CharField(max_length=runs.COMMAND_MAX_CHARS, trim_whitespace=False)
    detach = serializers.BooleanField(default=False, help_text="Return at once; the output goes to the app's log")
    addon = serializers.CharField(
        max_length=30, required=False, default="", help_text="Run in this add-on's image, where it answers (its shell)"
    )
    env = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=dict,
        help_text="Variables added to the release's config for this run only",
    )

    def validate_env(self, env):
        config_validate_changes(env)
        return env


class RunApi(APIView):
    """Runs a one-off command in a job of the app's current release, with its config: not routed, not counted
    in the formation, removed when it ends. Attached (the default), the response streams its output as NDJSON:
    `{"stdout": text}` and `{"stderr": text}` lines, then `{"exit": code}`; closing the connection kills it."""

    @extend_schema(
        request=RunSerializer,
        responses={
            201: OpenApiResponse(JobSerializer, description="Detached: the job, running"),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description='Attached: {"stdout": ...}, {"stderr": ...} lines, then {"exit": N}'
            ),
        },
    )
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        body = RunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        start = runs.RunStart(body.validated_data["command"], attached=not body.validated_data["detach"])
        start.env = body.validated_data["env"]
        start.addon = body.validated_data["addon"]
        job, session = runs.run_start(app=app, actor=request.user, start=start)
        if session is None:
            return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)
        output = runs.run_output_async if isinstance(request._request, ASGIRequest) else runs.run_output
        response = StreamingHttpResponse(output(job, session), content_type="application/x-ndjson")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
