"""Domain errors, and the one place they become HTTP responses."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class PaasError(Exception):
    """A request the platform refuses; the message says what was wrong and how to fix it."""

    http_status = status.HTTP_400_BAD_REQUEST


class InvalidInput(PaasError):
    """The caller sent something malformed or out of range."""


class NotFound(PaasError):
    """The named object does not exist, or the caller may not see it."""

    http_status = status.HTTP_404_NOT_FOUND


class Conflict(PaasError):
    """The request clashes with the current state (a name taken, a key already added)."""

    http_status = status.HTTP_409_CONFLICT


class Forbidden(PaasError):
    """The caller is known but may not do this."""

    http_status = status.HTTP_403_FORBIDDEN


class ImmutableError(PaasError):
    """An attempt to change an object that never changes once saved (a release, an artifact)."""

    http_status = status.HTTP_409_CONFLICT


def api_exception_handler(exc, context):
    """Maps domain errors to JSON `{"error": message}` bodies; DRF's own errors keep their shape."""
    if isinstance(exc, PaasError):
        return Response({"error": str(exc)}, status=exc.http_status)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": str(response.data["detail"])}
    return response
