from django.urls import path

from releases import apis

urlpatterns = [
    path("apps/<str:name>/releases/", apis.ReleaseListApi.as_view(), name="release-list"),
    path("apps/<str:name>/releases/diff/", apis.ReleaseDiffApi.as_view(), name="release-diff"),
    path("apps/<str:name>/releases/v<int:version>/", apis.ReleaseDetailApi.as_view(), name="release-detail"),
]
