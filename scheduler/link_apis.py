"""REST endpoints for the apps an app's jobs may reach by internal name."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from scheduler import links


class LinksSerializer(serializers.Serializer):
    reaches = serializers.ListField(
        child=serializers.CharField(), help_text="Apps whose jobs this app's jobs reach (`web.OTHER.internal`)"
    )
    reached_by = serializers.ListField(child=serializers.CharField(), help_text="Apps whose jobs reach this app's")


class LinkAddSerializer(serializers.Serializer):
    app = serializers.CharField(max_length=30, help_text="The app to reach; the caller must be able to change it")


class AppLinkListApi(APIView):
    """The apps an app reaches and is reached by; POST `{"app": "OTHER"}` lets its jobs reach OTHER's (its jobs are
    restarted, one by one, to join OTHER's network)."""

    @extend_schema(responses=LinksSerializer)
    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(LinksSerializer(links.links_list(app=app)).data)

    @extend_schema(request=LinkAddSerializer, responses={201: LinksSerializer})
    def post(self, request, name):
        app = app_get(user=request.user, name=name)
        params = LinkAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        links.link_add(app=app, target_name=params.validated_data["app"], actor=request.user)
        return Response(LinksSerializer(links.links_list(app=app)).data, status=status.HTTP_201_CREATED)


class AppLinkDetailApi(APIView):
    """Stops an app's jobs reaching another app's (its jobs are restarted, one by one, to leave its network)."""

    @extend_schema(responses={204: None})
    def delete(self, request, name, target):
        app = app_get(user=request.user, name=name)
        links.link_remove(app=app, target_name=target, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
