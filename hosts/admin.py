"""The console's read-only pages for hosts."""

from django.contrib import admin

from hosts.models import Host
from paas.admin import ReadOnlyAdmin


@admin.register(Host)
class HostAdmin(ReadOnlyAdmin):
    """Hosts: the Docker engines jobs run on; they register themselves and report heartbeats, so view only."""

    list_display = ["name", "docker_url", "address", "state", "heartbeat_at"]
    list_filter = ["state"]
