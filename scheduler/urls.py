from django.urls import path

from scheduler import apis, traffic_apis

urlpatterns = [
    path("apps/<str:name>/jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("apps/<str:name>/rollout/", apis.RolloutApi.as_view(), name="rollout"),
    path("apps/<str:name>/runs/", apis.RunApi.as_view(), name="run"),
    path("apps/<str:name>/discover/", apis.DiscoverApi.as_view(), name="discover"),
    path("apps/<str:name>/metrics/", traffic_apis.AppMetricsApi.as_view(), name="app-metrics"),
]
