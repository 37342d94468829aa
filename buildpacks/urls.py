from django.urls import path

from buildpacks import apis

urlpatterns = [
    path("apps/<str:name>/builds/", apis.BuildListApi.as_view(), name="build-list"),
    path("apps/<str:name>/builds/<int:build_id>/", apis.BuildDetailApi.as_view(), name="build-detail"),
    path("apps/<str:name>/builds/cache/", apis.BuildCacheApi.as_view(), name="build-cache"),
    path("apps/<str:name>/images/", apis.ImageDeployApi.as_view(), name="image-deploy"),
    path("apps/<str:name>/images/upload/", apis.ImageUploadApi.as_view(), name="image-upload"),
]
