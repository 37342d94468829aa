"""Hosts: the Docker engines jobs run on."""

from django.db import models


class HostState(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"


class Host(models.Model):
    """A Docker engine that runs jobs; it reports heartbeats and where its published ports are reached."""

    name = models.CharField(max_length=63, unique=True)
    docker_url = models.CharField(max_length=255)
    address = models.CharField(max_length=255, help_text="Address at which the host's job ports are reached")
    state = models.CharField(max_length=10, choices=HostState.choices, default=HostState.UP)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    memory = models.BigIntegerField(null=True, blank=True, help_text="Bytes of memory it has, as its engine says")
    cpus = models.FloatField(null=True, blank=True, help_text="CPUs it has, as its engine says")
    tags = models.JSONField(default=list, blank=True, help_text="Labels that process types' constraints name (ssd)")
    drained = models.BooleanField(default=False, help_text="It takes no new jobs")
    agent = models.BooleanField(
        default=False, help_text="Driven through its agent (`paas agent`), not by the controller's engine client"
    )
    containers = models.PositiveIntegerField(
        null=True, blank=True, help_text="Job containers running on it, as its agent's last heartbeat said"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
