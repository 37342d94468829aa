"""REST endpoints for builds and their logs, and for deploying Docker images."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from buildpacks.images import image_deploy, image_upload_deploy
from buildpacks.models import Build
from buildpacks.selectors import build_get, build_list
from buildpacks.services import build_cache_purge


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


class ImageDeploySerializer(serializers.Serializer):
    image = serializers.CharField(max_length=320, help_text="An image the platform's Docker engine has")


class ImageDeployedSerializer(serializers.Serializer):
    release = serializers.IntegerField(help_text="The release made of it, rolling out")


class ImageDeployApi(APIView):
    """Releases a Docker image the platform's engine has; its CMD is the web process, rolled out as a push is."""

    @extend_schema(request=ImageDeploySerializer, responses={201: ImageDeployedSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        body = ImageDeploySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = image_deploy(app=app, actor=request.user, reference=body.validated_data["image"])
        return Response({"release": release.version}, status=status.HTTP_201_CREATED)


class ImageUploadApi(APIView):
    """Loads a `docker save` archive sent as the request body (at most PAAS_IMAGE_MAX_BYTES) and releases its
    image, as `docker save IMAGE | paas deploy-image -` does."""

    @extend_schema(request={"application/x-tar": OpenApiTypes.BINARY}, responses={201: ImageDeployedSerializer})
    def put(self, request, name):
        app = app_get(user=request.user, name=name)
        length = request.META.get("CONTENT_LENGTH")
        release = image_upload_deploy(
            app=app, actor=request.user, stream=request._request, length=int(length) if length else None
        )
        return Response({"release": release.version}, status=status.HTTP_201_CREATED)


class BuildCacheApi(APIView):
    """The app's build cache: what its builds downloaded and installed, reused by the next build."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, name):
        app = app_get(user=request.user, name=name)
        build_cache_purge(app=app, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
