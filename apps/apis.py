"""REST endpoints for apps and SSH keys."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import selectors, services
from apps.models import App, Key


class AppSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = App
        fields = ["name", "owner", "created_at"]


class AppCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class KeySerializer(serializers.ModelSerializer):
    class Meta:
        model = Key
        fields = ["fingerprint", "comment", "public_key", "created_at"]


class KeyCreateSerializer(serializers.Serializer):
    public_key = serializers.CharField()


class AppListApi(APIView):
    """Lists the caller's apps; creates an app."""

    def get(self, request):
        return Response(AppSerializer(selectors.app_list(user=request.user), many=True).data)

    def post(self, request):
        params = AppCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app = services.app_create(owner=request.user, name=params.validated_data.get("name") or None)
        return Response(AppSerializer(app).data, status=status.HTTP_201_CREATED)


class AppDetailApi(APIView):
    """Shows one app."""

    def get(self, request, name):
        return Response(AppSerializer(selectors.app_get(user=request.user, name=name)).data)


class KeyListApi(APIView):
    """Lists the caller's SSH keys; adds one."""

    def get(self, request):
        return Response(KeySerializer(selectors.key_list(user=request.user), many=True).data)

    def post(self, request):
        params = KeyCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        key = services.key_add(user=request.user, public_key=params.validated_data["public_key"])
        return Response(KeySerializer(key).data, status=status.HTTP_201_CREATED)


class KeyDetailApi(APIView):
    """Removes one of the caller's SSH keys."""

    def delete(self, request, fingerprint):
        services.key_remove(user=request.user, fingerprint=fingerprint)
        return Response(status=status.HTTP_204_NO_CONTENT)
