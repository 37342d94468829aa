from django.urls import path

from releases import apis

urlpatterns = [path("apps/<str:name>/releases/", apis.ReleaseListApi.as_view(), name="release-list")]
