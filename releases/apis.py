"""REST endpoints for releases."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from releases.models import Release
from releases.selectors import release_list


class ReleaseSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app.name")
    image = serializers.CharField(source="artifact.image", default=None)
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = Release
        fields = ["app", "version", "image", "processes", "description", "created_by", "created_at"]


class ReleaseListApi(APIView):
    """Lists an app's releases, newest first."""

    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(ReleaseSerializer(release_list(app=app), many=True).data)
