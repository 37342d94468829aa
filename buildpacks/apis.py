"""REST endpoints for builds and their logs."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from buildpacks.models import Build
from paas.errors import NotFound


class BuildSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="release.version", default=None)
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = Build
        fields = ["id", "revision", "state", "error", "release", "created_by", "created_at", "duration"]


class BuildListApi(APIView):
    """Lists an app's builds, newest first."""

    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        builds = Build.objects.filter(app=app).select_related("release", "created_by").defer("log")
        return Response(BuildSerializer(builds, many=True).data)


class BuildDetailApi(APIView):
    """Shows one build with its log."""

    def get(self, request, name, build_id):
        app = app_get(user=request.user, name=name)
        build = Build.objects.filter(app=app, pk=build_id).select_related("release", "created_by").first()
        if build is None:
            raise NotFound(f"no build {build_id} in app {app.name}; `paas builds` lists them")
        return Response({**BuildSerializer(build).data, "log": build.log})
