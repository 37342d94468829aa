from django.urls import path

from apps import apis, domain_apis, hook_apis

urlpatterns = [
    path("apps/", apis.AppListApi.as_view(), name="app-list"),
    path("apps/<str:name>/", apis.AppDetailApi.as_view(), name="app-detail"),
    path("apps/<str:name>/events/", apis.AppEventListApi.as_view(), name="app-event-list"),
    path("apps/<str:name>/domains/", domain_apis.AppDomainListApi.as_view(), name="app-domain-list"),
    path("apps/<str:name>/domains/<str:domain>/", domain_apis.AppDomainDetailApi.as_view(), name="app-domain-detail"),
    path(
        "apps/<str:name>/domains/<str:domain>/certificate/",
        domain_apis.AppDomainCertificateApi.as_view(),
        name="app-domain-certificate",
    ),
    path("apps/<str:name>/router/", domain_apis.AppRouterSettingsApi.as_view(), name="app-router"),
    path("apps/<str:name>/hooks/", hook_apis.AppHookListApi.as_view(), name="app-hook-list"),
    path("apps/<str:name>/hooks/deliveries/", hook_apis.AppHookDeliveryListApi.as_view(), name="app-hook-deliveries"),
    path("apps/<str:name>/hooks/<int:hook_id>/", hook_apis.AppHookDetailApi.as_view(), name="app-hook-detail"),
    path("apps/<str:name>/logs/", apis.AppLogApi.as_view(), name="app-log"),
    path("apps/<str:name>/access/", apis.AppAccessListApi.as_view(), name="app-access-list"),
    path("apps/<str:name>/access/<str:username>/", apis.AppAccessDetailApi.as_view(), name="app-access-detail"),
    path("events/", apis.EventListApi.as_view(), name="event-list"),
    path("keys/", apis.KeyListApi.as_view(), name="key-list"),
    path("keys/challenge/", apis.KeyChallengeApi.as_view(), name="key-challenge"),
    path("keys/<path:fingerprint>/", apis.KeyDetailApi.as_view(), name="key-detail"),
    path("tokens/", apis.TokenListApi.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", apis.TokenDetailApi.as_view(), name="token-detail"),
    path("users/", apis.UserListApi.as_view(), name="user-list"),
]
