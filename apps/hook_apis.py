"""REST endpoints for an app's deploy hooks and their delivery log."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import hooks, selectors
from apps.models import HookDelivery, HookEvent

DELIVERIES_SHOWN = 50


class HookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=HookEvent.choices))
    created_at = serializers.DateTimeField()


class HookCreatedSerializer(HookSerializer):
    secret = serializers.CharField(help_text="The key of its signatures (X-Paas-Signature); shown this once")


class HookAddSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="http:// or https://; told of events by a signed JSON POST")
    events = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, help_text="Default: every event"
    )


class DeliverySerializer(serializers.ModelSerializer):
    hook = serializers.IntegerField(source="hook_id")

    class Meta:
        model = HookDelivery
        fields = ["id", "hook", "event", "state", "attempts", "status_code", "error", "created_at", "delivered_at"]
        fields += ["next_attempt_at"]


class AppHookListApi(APIView):
    """An app's deploy hooks; POST adds one and shows its secret, once."""

    @extend_schema(responses=HookSerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(HookSerializer(app.hooks.all(), many=True).data)

    @extend_schema(request=HookAddSerializer, responses={201: HookCreatedSerializer})
    def post(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = HookAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        events = params.validated_data.get("events")
        hook, secret = hooks.hook_add(app=app, url=params.validated_data["url"], events=events, actor=request.user)
        body = {**HookSerializer(hook).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class AppHookDetailApi(APIView):
    """Removes a deploy hook, with its delivery log."""

    @extend_schema(responses={204: None})
    def delete(self, request, name, hook_id):
        app = selectors.app_get(user=request.user, name=name)
        hooks.hook_remove(app=app, hook_id=hook_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppHookDeliveryListApi(APIView):
    """The last deliveries to an app's hooks, newest first: what was sent, how often, and what the receiver said."""

    @extend_schema(responses=DeliverySerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        deliveries = HookDelivery.objects.filter(hook__app=app)[:DELIVERIES_SHOWN]
        return Response(DeliverySerializer(deliveries, many=True).data)
