"""Formations: which release of an app runs, and how many of each process type."""

from django.db import models


class Formation(models.Model):
    """An app's desired running state: its current release and a replica count per process type."""

    app = models.OneToOneField("apps.App", on_delete=models.CASCADE, related_name="formation")
    release = models.ForeignKey("releases.Release", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    releasing = models.ForeignKey(
        "releases.Release",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="A release whose release phase runs; it replaces `release` once that succeeds",
    )
    deployed_release = models.ForeignKey(
        "releases.Release",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The release whose rollout last finished (announced in the app's log)",
    )
    counts = models.JSONField(default=dict, blank=True, help_text="Process type -> replica count")
    failed_release = models.ForeignKey(
        "releases.Release",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The last release whose deploy failed and was rolled back",
    )
    failure = models.TextField(blank=True, help_text="Why that deploy failed")
    generations = models.JSONField(
        default=dict, blank=True, help_text="Process type -> restart generation; a restart bumps it"
    )
    checks = models.JSONField(
        default=dict,
        blank=True,
        help_text='Process type -> HTTP health check {"path", "timeout", "passes"}; copied into each new release',
    )
    limits = models.JSONField(
        default=dict, blank=True, help_text='Process type -> resource limits {"memory": "512m", "cpus": 0.5}'
    )
    constraints = models.JSONField(
        default=dict, blank=True, help_text='Process type -> the tags its hosts must have ["ssd"]'
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        counts = " ".join(f"{ptype}={count}" for ptype, count in sorted(self.counts.items()))
        return f"{self.app.name}: {counts or 'nothing'}"

    def generation(self, process_type: str) -> int:
        """How many times this process type has been restarted; its jobs of an older generation are replaced."""
        return int(self.generations.get(process_type, 0))
