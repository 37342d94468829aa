"""Reads on formations; they never write (the formation is made with its app)."""

from formations.models import Formation


def formation_get(*, app) -> Formation:
    """`app`'s formation."""
    return Formation.objects.select_related("app", "release").get(app=app)
