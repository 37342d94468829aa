"""The web console's admin site: Django's admin, named after the platform.

`PaasAdminConfig` replaces `django.contrib.admin` in INSTALLED_APPS, so `admin.site` (and every
`@admin.register`) is this site. This module is imported while the app registry loads: it imports no models.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class PaasAdminSite(admin.AdminSite):
    """The console at /admin/: apps, their releases, jobs, builds and events, and the hosts they run on."""

    site_header = "paas console"
    site_title = "paas console"
    index_title = "Apps, releases, jobs and hosts"
    site_url = None  # the server answers only /api/ and /admin/: no "View site" link


class PaasAdminConfig(AdminConfig):
    """django.contrib.admin, with the console's site as the default one."""

    default_site = "paas.admin_site.PaasAdminSite"
