from django.urls import path

from formations import apis

urlpatterns = [
    path("apps/<str:name>/formation/", apis.FormationApi.as_view(), name="formation"),
    path("apps/<str:name>/restart/", apis.RestartApi.as_view(), name="restart"),
    path("apps/<str:name>/config/", apis.ConfigApi.as_view(), name="config"),
    path("apps/<str:name>/checks/", apis.ChecksApi.as_view(), name="checks"),
    path("apps/<str:name>/limits/", apis.LimitsApi.as_view(), name="limits"),
    path("apps/<str:name>/constraints/", apis.ConstraintsApi.as_view(), name="constraints"),
    path("apps/<str:name>/releases/rollback/", apis.RollbackApi.as_view(), name="release-rollback"),
]
