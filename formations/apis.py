"""REST endpoints for formations (scale, restart) and for the changes that roll out a release (config, rollback)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.selectors import formation_get
from formations.services import config_update, formation_restart, formation_scale, release_rollback
from releases.apis import ReleaseSerializer
from releases.selectors import config_current


class FormationSerializer(serializers.Serializer):
    app = serializers.CharField(source="app.name")
    release = serializers.IntegerField(source="release.version", default=None, allow_null=True)
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
