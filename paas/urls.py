"""URL routes: the REST API under /api/ and the admin console under /admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from artifacts.views import blob_download, blob_upload, image_download
from paas.api import ApiRootApi

api_patterns = [
    path("", ApiRootApi.as_view(), name="api-root"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apps.urls")),
    path("", include("releases.urls")),
    path("", include("formations.urls")),
    path("", include("scheduler.urls")),
    path("", include("hosts.urls")),
    path("", include("buildpacks.urls")),
    path("", include("addons.urls")),
]

# A URL that matches no route under /api/ is refused with the API's JSON error body, not an HTML page.
handler404 = "paas.errors.page_not_found"

urlpatterns = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("internal/blobs/<str:digest>", blob_download, name="blob-download"),
    path("internal/images/<int:artifact_id>", image_download, name="image-download"),
    path("internal/uploads/<str:token>", blob_upload, name="blob-upload"),
]
