"""REST endpoints for builds and their logs."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from buildpacks.models import Build
from buildpacks.selectors import build_get, build_list


class BuildSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="release.version", default=None, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = Build
        fields = ["id", "revision", "state", "error", "release", "created_by", "created_at", "duration"]


class BuildDetailSerializer(BuildSerializer):
    class Meta(BuildSerializer.Meta):
        fields = [*BuildSerializer.Meta.fields, "log"]


class BuildListApi(APIView):
    """Lists an app's builds, newest first."""

    @extend_schema(responses=BuildSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(BuildSerializer(build_list(app=app), many=True).data)


class BuildDetailApi(APIView):
    """Shows one build with its log."""

    @extend_schema(responses=BuildDetailSerializer)
    def get(self, request, name, build_id):
        app = app_get(user=request.user, name=name)
        return Response(BuildDetailSerializer(build_get(app=app, build_id=build_id)).data)
