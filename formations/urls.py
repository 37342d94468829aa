from django.urls import path

from formations import apis

urlpatterns = [path("apps/<str:name>/formation/", apis.FormationApi.as_view(), name="formation")]
