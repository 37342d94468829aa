from django.urls import path

from addons import apis

urlpatterns = [
    path("apps/<str:name>/addons/", apis.AddonListApi.as_view(), name="addon-list"),
    path("apps/<str:name>/addons/<str:addon>/", apis.AddonDetailApi.as_view(), name="addon-detail"),
    path("apps/<str:name>/addons/<str:addon>/backups/", apis.AddonBackupListApi.as_view(), name="addon-backup-list"),
    path("apps/<str:name>/addons/<str:addon>/restore/", apis.AddonRestoreApi.as_view(), name="addon-restore"),
    path("apps/<str:name>/volumes/", apis.VolumeListApi.as_view(), name="volume-list"),
    path("apps/<str:name>/volumes/<str:volume>/", apis.VolumeDetailApi.as_view(), name="volume-detail"),
]
