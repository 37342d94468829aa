"""Domain errors, and the one place they become HTTP responses."""

from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import exception_handler


class PaasError(Exception):
    """A request the platform refuses; the message says what was wrong and how to fix it."""


class InvalidInput(PaasError):
    """The caller sent something malformed or out of range."""


class NotFound(PaasError):
    """The named object does not exist, or the caller may not see it."""


class Conflict(PaasError):
    """The request clashes with the current state (a name taken, a key already added, an image gone)."""


class Forbidden(PaasError):
    """The caller is known but may not do this."""


class ImmutableError(Conflict):
    """An attempt to change an object that never changes once saved (a release, an artifact)."""


class QuotaExceeded(Conflict):
    """A per-user or per-app limit (a PAAS_QUOTA_* setting) is reached; the message names the limit and setting.

    A 409: the same request succeeds once the user has less (an app destroyed, a build finished)."""


# Most specific first: the first class an error is an instance of gives its HTTP status.
_HTTP_STATUS = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Conflict, status.HTTP_409_CONFLICT),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (PaasError, status.HTTP_400_BAD_REQUEST),
)


def http_status(error: PaasError) -> int:
    """The HTTP status a domain error is answered with."""
    return next(code for kind, code in _HTTP_STATUS if isinstance(error, kind))


def _drf_message(data) -> str:
    """One line from DRF's validation errors: `field: problem; other: problem`."""
    if isinstance(data, dict):
        if "detail" in data and len(data) == 1:
            return str(data["detail"])
        return "; ".join(f"{field}: {_drf_message(problems)}" for field, problems in data.items())
    if isinstance(data, list):
        return " ".join(_drf_message(item) for item in data)
    return str(data)


def api_exception_handler(exc, context):
    """Maps every refusal to a JSON `{"error": message}` body: domain errors and DRF's own alike."""
    if isinstance(exc, PaasError):
        return Response({"error": str(exc)}, status=http_status(exc))
    response = exception_handler(exc, context)
    if response is not None:
        message = _drf_message(response.data)
        if isinstance(exc, UnsupportedMediaType):
            message += " Send a JSON body with Content-Type: application/json."
        response.data = {"error": message}
    return response


def page_not_found(request, exception):
    """Django's 404 for a URL no route matches (`/api/apps/shop/releases/vlatest/`): JSON under /api/, as elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"no such URL: {request.path}; /api/docs/ lists the API's URLs"}, status=404)
    return defaults.page_not_found(request, exception)
