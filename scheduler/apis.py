"""REST endpoints for jobs."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from scheduler.models import Job
from scheduler.selectors import job_list


class JobSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk")
    release = serializers.IntegerField(source="release.version")
    host = serializers.CharField(source="host.name", default=None)

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


class JobListApi(APIView):
    """Lists an app's jobs: what runs where, and in which state."""

    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(JobSerializer(job_list(app=app), many=True).data)
