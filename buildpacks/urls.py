from django.urls import path

from buildpacks import apis

urlpatterns = [
    path("apps/<str:name>/builds/", apis.BuildListApi.as_view(), name="build-list"),
    path("apps/<str:name>/builds/<int:build_id>/", apis.BuildDetailApi.as_view(), name="build-detail"),
]
