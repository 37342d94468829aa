"""REST endpoints for formations: read, and scale."""

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.selectors import app_get
from formations.services import formation_get, formation_scale


class FormationSerializer(serializers.Serializer):
    app = serializers.CharField(source="app.name")
    release = serializers.IntegerField(source="release.version", default=None)
    counts = serializers.DictField(child=serializers.IntegerField())
    processes = serializers.DictField(source="release.processes", default=dict)
    updated_at = serializers.DateTimeField()


class ScaleSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(min_value=0))


class FormationApi(APIView):
    """Shows an app's formation; PATCH `{"counts": {"web": 2}}` scales it."""

    def get(self, request, name):
        app = app_get(user=request.user, name=name)
        return Response(FormationSerializer(formation_get(app=app)).data)

    def patch(self, request, name):
        app = app_get(user=request.user, name=name)
        params = ScaleSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        formation = formation_scale(app=app, counts=params.validated_data["counts"], actor=request.user)
        return Response(FormationSerializer(formation).data)
