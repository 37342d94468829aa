"""The OpenAPI schema's shared parts: the one error body every refusal has, on every operation."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 5xx answer: `{"error": "what was wrong and how to fix it"}`."""

    error = serializers.CharField()


ERROR_STATUSES = {
    400: "The request was malformed or out of range; the message says which part.",
    401: "No valid token was given.",
    403: "The caller may not do this.",
    404: "No such object, or the caller may not see it.",
    405: "The method is not allowed here.",
    406: "The requested media type cannot be served.",
    409: "The request clashes with the current state.",
    415: "The request body's media type is not supported; send application/json.",
}


class PaasAutoSchema(AutoSchema):
    """Documents the shared error body for every status any endpoint can answer with."""

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for code, description in ERROR_STATUSES.items():
            error = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
            bodies.setdefault(str(code), {**error, "description": description})
        return bodies
