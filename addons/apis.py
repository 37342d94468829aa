"""REST endpoints for an app's add-ons (with their backups) and volumes."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from addons import services, volumes
from addons.models import Addon, AddonBackup, AddonKind, Volume
from apps.selectors import app_get


class AddonSerializer(serializers.ModelSerializer):
    host = serializers.CharField(source="host.name")
    hostname = serializers.SerializerMethodField(help_text="Where the app's jobs reach it")
    server = serializers.CharField(
        default=None, allow_null=True, help_text="Its container's state on its host (running, restarting...)"
    )
    size = serializers.IntegerField(
        default=None, allow_null=True, help_text="Bytes of data on its volume (in the list; null for one add-on)"
    )

    class Meta:
        model = Addon
        fields = ["name", "kind", "config_var", "state", "error", "host", "hostname", "server", "size", "created_at"]

    def get_hostname(self, addon) -> str:
        return services.addon_hostname(addon)


class AddonCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AddonKind.choices)
    name = serializers.CharField(max_length=30, required=False, help_text="Default: its kind; its URL goes in NAME_URL")


class ConfirmSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The app's name again: its data is deleted")


class BackupSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = AddonBackup
        fields = ["name", "number", "size", "digest", "created_at"]

    def get_name(self, backup) -> str:
        return f"b{backup.number}"


class RestoreSerializer(serializers.Serializer):
    backup = serializers.CharField(max_length=20, help_text="The backup to load: b3 (or 3)")


class VolumeSerializer(serializers.ModelSerializer):
    host = serializers.CharField(source="host.name")
    size = serializers.IntegerField(default=None, allow_null=True, help_text="Bytes on it, where its host says")

    class Meta:
        model = Volume
        fields = ["name", "path", "process_type", "shared", "host", "size", "created_at"]


class VolumeCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=30)
    path = serializers.CharField(max_length=200, help_text="Where its jobs find it: /data")
    process_type = serializers.CharField(max_length=30)
    shared = serializers.BooleanField(default=False, help_text="Several jobs may use it at once")


def _with_status(app, addons, *, sizes: bool = True) -> list[dict]:
    status_of = services.addons_status(app, sizes=sizes)
    rows = []
    for addon in addons:
        server, size = status_of.get(addon.pk, (None, None))
        rows.append({**AddonSerializer(addon).data, "server": server, "size": size})
    return rows


class AddonListApi(APIView):
    """An app's add-ons, with their servers' state and size; POST creates one (made in the background: its state is
    `creating` until its URL is set in the app's config)."""

    @extend_schema(responses=AddonSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(_with_status(app, app.addons.select_related("app", "host")))

    @extend_schema(request=AddonCreateSerializer, responses={202: AddonSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = AddonCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        addon = services.addon_create(app=app, kind=data["kind"], name=data.get("name"), actor=request.user)
        return Response(AddonSerializer(addon).data, status=status.HTTP_202_ACCEPTED)


class AddonDetailApi(APIView):
    """One add-on; DELETE with `{"confirm": APP}` destroys it, its data and its backups, and unsets its config var."""

    @extend_schema(responses=AddonSerializer)
    def get(self, request, name, addon):
        app = app_get(user=request.user, name=name)
        return Response(_with_status(app, [services.addon_get(app=app, name=addon)], sizes=False)[0])

    @extend_schema(request=ConfirmSerializer, responses={204: None})
    def delete(self, request, name, addon):
        app = app_get(user=request.user, name=name)
        params = ConfirmSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.addon_destroy(app=app, name=addon, confirm=params.validated_data["confirm"], actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AddonBackupListApi(APIView):
    """An add-on's backups, newest last; POST takes one now (pg_dump, or Redis's BGSAVE) and answers when it is kept."""

    @extend_schema(responses=BackupSerializer(many=True))
    def get(self, request, name, addon):
        app = app_get(user=request.user, name=name)
        return Response(BackupSerializer(services.addon_get(app=app, name=addon).backups.all(), many=True).data)

    @extend_schema(request=None, responses={201: BackupSerializer})
    def post(self, request, name, addon):
        app = app_get(user=request.user, name=name)
        backup = services.addon_backup(app=app, name=addon, actor=request.user)
        return Response(BackupSerializer(backup).data, status=status.HTTP_201_CREATED)


class AddonRestoreApi(APIView):
    """Loads a backup back into its add-on, replacing its data."""

    @extend_schema(request=RestoreSerializer, responses=BackupSerializer)
    def post(self, request, name, addon):
        app = app_get(user=request.user, name=name)
        params = RestoreSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        backup = services.addon_restore(app=app, name=addon, backup=params.validated_data["backup"], actor=request.user)
        return Response(BackupSerializer(backup).data)


class VolumeListApi(APIView):
    """An app's volumes, with their sizes; POST adds one (its process type's jobs restart with it)."""

    @extend_schema(responses=VolumeSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        rows = [{**VolumeSerializer(v).data, "size": size} for v, size in volumes.volumes_with_sizes(app)]
        return Response(rows)

    @extend_schema(request=VolumeCreateSerializer, responses={201: VolumeSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = VolumeCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        volume = volumes.volume_create(app=app, actor=request.user, **params.validated_data)
        return Response(VolumeSerializer(volume).data, status=status.HTTP_201_CREATED)


class VolumeDetailApi(APIView):
    """DELETE with `{"confirm": APP}` removes a volume and its data; its jobs restart without it."""

    @extend_schema(request=ConfirmSerializer, responses={204: None})
    def delete(self, request, name, volume):
        app = app_get(user=request.user, name=name)
        params = ConfirmSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        volumes.volume_remove(app=app, name=volume, confirm=params.validated_data["confirm"], actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
