"""Model building blocks shared by the platform's Django apps."""

from django.db import models

from paas.errors import ImmutableError


class ImmutableQuerySet(models.QuerySet):
    """A queryset that refuses bulk updates: rows of an immutable model never change."""

    def update(self, **kwargs):
        raise ImmutableError(f"{self.model.__name__} rows cannot be changed once saved")


class ImmutableModel(models.Model):
    """A model whose rows are written once; every change is a new row."""

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} {self.pk} cannot be changed once saved")
        super().save(*args, **kwargs)
