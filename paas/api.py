"""The API root: what a client needs to know about this platform."""

from django.conf import settings
from rest_framework.response import Response
from rest_framework.views import APIView

import paas


class ApiRootApi(APIView):
    """Tells the caller who they are and where git pushes and apps are reached."""

    def get(self, request):
        return Response(
            {
                "version": paas.__version__,
                "user": request.user.username,
                "ssh_port": settings.PAAS_SSH_PORT,
                "domain": settings.PAAS_DOMAIN,
                "router_port": settings.PAAS_ROUTER_PORT,
            }
        )
