"""REST endpoints for an app's cron schedules: commands run as one-off jobs on a schedule, in UTC."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from scheduler import cron
from scheduler.models import CronSchedule, JobState


class CronScheduleSerializer(serializers.ModelSerializer):
    last_run = serializers.CharField(
        source="last_job.name", default=None, allow_null=True, help_text="The job of its last run (run.N)"
    )
    last_exit_code = serializers.IntegerField(
        source="last_job.exit_code", default=None, allow_null=True, help_text="Once its last run has ended"
    )
    last_state = serializers.ChoiceField(
        source="last_job.state", choices=JobState.choices, default=None, allow_null=True, help_text="Of its last run"
    )

    class Meta:
        model = CronSchedule
        fields = ["id", "schedule", "command", "source", "next_run_at", "last_run_at", "last_run", "last_exit_code"]
        fields += ["last_state", "created_at"]


class CronAddSerializer(serializers.Serializer):
    schedule = serializers.CharField(
        max_length=cron.SCHEDULE_MAX_CHARS, help_text="Five fields in UTC (*/5 * * * *), or @hourly, @daily, ..."
    )
    command = serializers.CharField(max_length=cron.COMMAND_MAX_CHARS, help_text="Run as `paas run --detach` runs it")


class AppCronListApi(APIView):
    """An app's cron schedules, with each one's last and next run; POST adds one."""

    @extend_schema(responses=CronScheduleSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(CronScheduleSerializer(cron.cron_list(app=app), many=True).data)

    @extend_schema(request=CronAddSerializer, responses={201: CronScheduleSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = CronAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        added = cron.cron_add(app=app, actor=request.user, **params.validated_data)
        return Response(CronScheduleSerializer(added).data, status=status.HTTP_201_CREATED)


class AppCronDetailApi(APIView):
    """Removes a cron schedule added by `paas cron add` (those of app.json go when app.json drops them)."""

    @extend_schema(responses={204: None})
    def delete(self, request, name, cron_id):
        app = app_get(user=request.user, name=name)
        cron.cron_remove(app=app, cron_id=cron_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
