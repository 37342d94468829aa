"""REST endpoints for formations (scale, restart) and for the changes that roll out a release (config, rollback)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.selectors import formation_get
from formations.services import (
    checks_update,
    config_update,
    constraints_update,
    formation_restart,
    formation_scale,
    limits_update,
    release_rollback,
)
from releases.apis import ReleaseSerializer
from releases.selectors import config_current
from scheduler.selectors import limits_effective


class FormationSerializer(serializers.Serializer):
    app = serializers.CharField(source="app.name")
    release = serializers.IntegerField(source="release.version", default=None, allow_null=True)
    releasing = serializers.IntegerField(
        source="releasing.version", default=None, allow_null=True, help_text="A release whose release phase runs"
    )
    counts = serializers.DictField(child=serializers.IntegerField())
    processes = serializers.DictField(source="release.processes", default=dict, child=serializers.CharField())
    updated_at = serializers.DateTimeField()


class ScaleSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=10_000))


class RestartSerializer(serializers.Serializer):
    process_type = serializers.CharField(required=False, allow_null=True, max_length=30)


class ConfigSerializer(serializers.Serializer):
    config = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False))
    release = serializers.IntegerField(allow_null=True, help_text="The release the change made, or null if none")


class CheckSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=200, help_text="GET this path on the job's port")
    timeout = serializers.FloatField(default=2.0, min_value=0.1, max_value=30, help_text="Seconds to answer")
    passes = serializers.IntegerField(default=2, min_value=1, max_value=10, help_text="Passes in a row to be up")


class ChecksSerializer(serializers.Serializer):
    checks = serializers.DictField(child=CheckSerializer(), help_text="Process type -> HTTP check; others use TCP")
    release = serializers.IntegerField(allow_null=True, help_text="The release the change made, or null if none")


class LimitSerializer(serializers.Serializer):
    memory = serializers.CharField(required=False, max_length=20, help_text="512m, 1g (4m to 64g)")
    cpus = serializers.FloatField(required=False, min_value=0.01, max_value=1024)


class EffectiveLimitSerializer(serializers.Serializer):
    memory = serializers.CharField()
    cpus = serializers.FloatField()
    pids = serializers.IntegerField()


class LimitsSerializer(serializers.Serializer):
    limits = serializers.DictField(child=LimitSerializer(), help_text="Process type -> limits set on it")
    effective = serializers.DictField(
        child=EffectiveLimitSerializer(), help_text="Process type -> limits its jobs get, defaults included"
    )


def _changes(data, serializer_class) -> dict:
    """A JSON object of process type -> object (validated by `serializer_class`) or null."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"detail": "a JSON object of process type -> object or null"})
    changes = {}
    for process_type, value in data.items():
        if value is None:
            changes[process_type] = None
            continue
        item = serializer_class(data=value)
        if not item.is_valid():
            raise serializers.ValidationError({process_type: item.errors})
        changes[process_type] = dict(item.validated_data)
    return changes


def _nullable_changes(properties: dict, required: tuple = ()) -> dict:
    """The OpenAPI request body of a change: process type -> an object of `properties`, or null."""
    item = {"type": "object", "properties": properties, "nullable": True} | (
        {"required": list(required)} if required else {}
    )
    return {"application/json": {"type": "object", "additionalProperties": item}}


CHECK_CHANGE = _nullable_changes(
    {
        "path": {"type": "string", "maxLength": 200},
        "timeout": {"type": "number", "minimum": 0.1, "maximum": 30},
        "passes": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    required=("path",),
)
LIMIT_CHANGE = _nullable_changes(
    {"memory": {"type": "string", "maxLength": 20}, "cpus": {"type": "number", "minimum": 0.01, "maximum": 1024}}
)


class RollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)


class FormationApi(APIView):
    """Shows an app's formation; PATCH `{"counts": {"web": 2}}` scales it."""

    @extend_schema(responses=FormationSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(FormationSerializer(formation_get(app=app)).data)

    @extend_schema(request=ScaleSerializer, responses=FormationSerializer)
    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        params = ScaleSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        formation = formation_scale(app=app, counts=params.validated_data["counts"], actor=request.user)
        return Response(FormationSerializer(formation).data)


class RestartApi(APIView):
    """Replaces every job of the app (or of `process_type`) one by one, with no downtime."""

    @extend_schema(request=RestartSerializer, responses=FormationSerializer)
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = RestartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        process_type = params.validated_data.get("process_type") or None
        formation = formation_restart(app=app, actor=request.user, process_type=process_type)
        return Response(FormationSerializer(formation).data)


class ConfigApi(APIView):
    """An app's config vars. PATCH a JSON object of changes (`null` unsets a key): one new release for all."""

    @extend_schema(responses=ConfigSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response({"config": config_current(app=app), "release": None})

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}}},
        responses=ConfigSerializer,
    )
    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        release = config_update(app=app, changes=request.data, actor=request.user)
        return Response({"config": config_current(app=app), "release": release.version if release else None})


class RollbackApi(APIView):
    """Rolls back: a new release copying an earlier one (the one before the newest, or `version`)."""

    @extend_schema(request=RollbackSerializer, responses={201: ReleaseSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = RollbackSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        release = release_rollback(app=app, actor=request.user, version=params.validated_data.get("version"))
        return Response(ReleaseSerializer(release).data, status=201)


class ChecksApi(APIView):
    """An app's HTTP health checks. PATCH `{"web": {"path": "/healthz", "timeout": 2, "passes": 2}}` (`null`: back
    to the TCP check): one new release, rolled out like a config change."""

    @extend_schema(responses=ChecksSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response({"checks": formation_get(app=app).checks, "release": None})

    @extend_schema(request=CHECK_CHANGE, responses=ChecksSerializer)
    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        release = checks_update(app=app, changes=_changes(request.data, CheckSerializer), actor=request.user)
        checks = formation_get(app=app).checks
        return Response({"checks": checks, "release": release.version if release else None})


class ConstraintsSerializer(serializers.Serializer):
    constraints = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Process type -> the tags every host of its jobs must have",
    )


class ConstraintsApi(APIView):
    """Where an app's jobs may run. PATCH `{"worker": ["ssd"]}` (`null`: anywhere): the process type's jobs are
    replaced one by one on hosts with those tags (`paas hosts tag`), as by a restart."""

    @extend_schema(responses=ConstraintsSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response({"constraints": formation_get(app=app).constraints})

    @extend_schema(request=ConstraintsSerializer, responses=ConstraintsSerializer)
    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        formation = constraints_update(app=app, changes=request.data, actor=request.user)
        return Response({"constraints": formation.constraints})


class LimitsApi(APIView):
    """An app's resource limits. PATCH `{"web": {"memory": "512m", "cpus": 0.5}}` (`null`: back to the defaults):
    the process type's jobs are replaced one by one, as by a restart."""

    @extend_schema(responses=LimitsSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        formation = formation_get(app=app)
        return Response({"limits": formation.limits, "effective": limits_effective(formation=formation)})

    @extend_schema(request=LIMIT_CHANGE, responses=LimitsSerializer)
    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        formation = limits_update(app=app, changes=_changes(request.data, LimitSerializer), actor=request.user)
        return Response({"limits": formation.limits, "effective": limits_effective(formation=formation)})
