"""REST endpoints for apps, SSH keys and the audit events."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import selectors, services
from apps.models import App, Event, Key
from paas.services import app_destroy


class AppSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = App
        fields = ["name", "owner", "created_at"]


class AppCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class AppDestroySerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The app's name again, to confirm.")


class KeySerializer(serializers.ModelSerializer):
    class Meta:
        model = Key
        fields = ["fingerprint", "comment", "public_key", "created_at"]


class KeyCreateSerializer(serializers.Serializer):
    public_key = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app_name")
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = Event
        fields = ["id", "app", "actor", "action", "detail", "created_at"]


class AppListApi(APIView):
    """Lists the caller's apps; creates an app."""

    @extend_schema(responses=AppSerializer(many=True))
    def get(self, request):
        return Response(AppSerializer(selectors.app_list(user=request.user), many=True).data)

    @extend_schema(request=AppCreateSerializer, responses={201: AppSerializer})
    def post(self, request):
        params = AppCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app = services.app_create(owner=request.user, name=params.validated_data.get("name") or None)
        return Response(AppSerializer(app).data, status=status.HTTP_201_CREATED)


class AppDetailApi(APIView):
    """Shows one app; DELETE with `{"confirm": NAME}` destroys it and everything it made."""

    @extend_schema(responses=AppSerializer)
    def get(self, request, name):
        return Response(AppSerializer(selectors.app_get(user=request.user, name=name)).data)

    @extend_schema(request=AppDestroySerializer, responses={204: None})
    def delete(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = AppDestroySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app_destroy(app=app, actor=request.user, confirm=params.validated_data["confirm"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppEventListApi(APIView):
    """The audit trail of one app, newest first."""

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(EventSerializer(selectors.event_list(user=request.user, app=app), many=True).data)


class EventListApi(APIView):
    """Events the caller may see, newest first: staff see the whole platform's."""

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request):
        return Response(EventSerializer(selectors.event_list(user=request.user), many=True).data)


class KeyListApi(APIView):
    """Lists the caller's SSH keys; adds one."""

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request):
        return Response(KeySerializer(selectors.key_list(user=request.user), many=True).data)

    @extend_schema(request=KeyCreateSerializer, responses={201: KeySerializer})
    def post(self, request):
        params = KeyCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        key = services.key_add(user=request.user, public_key=params.validated_data["public_key"])
        return Response(KeySerializer(key).data, status=status.HTTP_201_CREATED)


class KeyDetailApi(APIView):
    """Removes one of the caller's SSH keys."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "fingerprint",
                str,
                OpenApiParameter.PATH,
                pattern=r"^SHA256:[A-Za-z0-9+/]{43}$",
                description="The key's SHA256 fingerprint, as `paas keys` shows it",
            )
        ],
        responses={204: None},
    )
    def delete(self, request, fingerprint):
        services.key_remove(user=request.user, fingerprint=fingerprint)
        return Response(status=status.HTTP_204_NO_CONTENT)
