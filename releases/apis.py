"""REST endpoints for releases: list, one release, and what changed between two."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from releases.models import Release
from releases.selectors import release_diff, release_get, release_list


class ReleaseSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app.name")
    image = serializers.CharField(source="artifact.image", default=None, allow_null=True)
    revision = serializers.CharField(source="artifact.revision", default=None, allow_null=True)
    processes = serializers.DictField(child=serializers.CharField(), help_text="Process type -> command")
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = Release
        fields = ["app", "version", "image", "revision", "processes", "description", "created_by", "created_at"]


class ReleaseDetailSerializer(ReleaseSerializer):
    config = serializers.DictField(child=serializers.CharField(allow_blank=True))

    class Meta(ReleaseSerializer.Meta):
        fields = [*ReleaseSerializer.Meta.fields, "config"]


class ReleaseSummarySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    description = serializers.CharField()
    revision = serializers.CharField(allow_blank=True)
    image = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class MappingDiffSerializer(serializers.Serializer):
    added = serializers.DictField(child=serializers.CharField(allow_blank=True))
    removed = serializers.DictField(child=serializers.CharField(allow_blank=True))
    changed = serializers.DictField(child=serializers.DictField(child=serializers.CharField(allow_blank=True)))


class ReleaseDiffSerializer(serializers.Serializer):
    source_changed = serializers.BooleanField()
    image_changed = serializers.BooleanField()
    config = MappingDiffSerializer()
    processes = MappingDiffSerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = ReleaseSummarySerializer()  # `from` is a Python keyword
        fields["to"] = ReleaseSummarySerializer()
        return fields


class ReleaseDiffParams(serializers.Serializer):
    from_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    to_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    show_values = serializers.BooleanField(default=False)

    def to_internal_value(self, data):
        renamed = {"from_version": data.get("from"), "to_version": data.get("to")}
        if "show_values" in data:
            renamed["show_values"] = data.get("show_values")
        return super().to_internal_value(renamed)


class ReleaseListApi(APIView):
    """Lists an app's releases, newest first."""

    @extend_schema(responses=ReleaseSerializer(many=True))
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(ReleaseSerializer(release_list(app=app), many=True).data)


class ReleaseDetailApi(APIView):
    """Shows one release, with its config."""

    @extend_schema(responses=ReleaseDetailSerializer)
    def get(self, request, name, version):
        app = app_get(user=request.user, name=name)
        return Response(ReleaseDetailSerializer(release_get(app=app, version=version)).data)


class ReleaseDiffApi(APIView):
    """What changed from release `from` to release `to`: source, image, config keys, process types."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True, description="The older release's version"),
            OpenApiParameter("to", int, required=True, description="The newer release's version"),
            OpenApiParameter("show_values", bool, description="Show config values instead of masking them"),
        ],
        responses=ReleaseDiffSerializer,
    )
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        params = ReleaseDiffParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        diff = release_diff(
            app=app,
            from_version=params.validated_data["from_version"],
            to_version=params.validated_data["to_version"],
            show_values=params.validated_data["show_values"],
        )
        return Response(ReleaseDiffSerializer(diff).data)
