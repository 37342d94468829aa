from django.urls import path

from scheduler import apis, cron_apis, link_apis, traffic_apis

urlpatterns = [
    path("apps/<str:name>/jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("apps/<str:name>/rollout/", apis.RolloutApi.as_view(), name="rollout"),
    path("apps/<str:name>/runs/", apis.RunApi.as_view(), name="run"),
    path("apps/<str:name>/discover/", apis.DiscoverApi.as_view(), name="discover"),
    path("apps/<str:name>/metrics/", traffic_apis.AppMetricsApi.as_view(), name="app-metrics"),
    path("apps/<str:name>/links/", link_apis.AppLinkListApi.as_view(), name="app-link-list"),
    path("apps/<str:name>/links/<str:target>/", link_apis.AppLinkDetailApi.as_view(), name="app-link-detail"),
    path("apps/<str:name>/cron/", cron_apis.AppCronListApi.as_view(), name="app-cron-list"),
    path("apps/<str:name>/cron/<int:cron_id>/", cron_apis.AppCronDetailApi.as_view(), name="app-cron-detail"),
]
