from django.urls import path

from apps import apis

urlpatterns = [
    path("apps/", apis.AppListApi.as_view(), name="app-list"),
    path("apps/<str:name>/", apis.AppDetailApi.as_view(), name="app-detail"),
    path("apps/<str:name>/events/", apis.AppEventListApi.as_view(), name="app-event-list"),
    path("events/", apis.EventListApi.as_view(), name="event-list"),
    path("keys/", apis.KeyListApi.as_view(), name="key-list"),
    path("keys/<path:fingerprint>/", apis.KeyDetailApi.as_view(), name="key-detail"),
]
