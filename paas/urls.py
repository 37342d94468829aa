"""URL routes: the REST API under /api/ and the admin console under /admin/."""

from django.contrib import admin
from django.urls import include, path

from paas.api import ApiRootApi

api_patterns = [
    path("", ApiRootApi.as_view(), name="api-root"),
    path("", include("apps.urls")),
    path("", include("releases.urls")),
    path("", include("formations.urls")),
    path("", include("scheduler.urls")),
    path("", include("hosts.urls")),
    path("", include("buildpacks.urls")),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
]
