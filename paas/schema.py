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
    """Documents the shared error body for every status any endpoint can answer with, and JSON request bodies."""

    def map_parsers(self):
        # Clients send JSON (the CLI, the docs' "Try it out"); a form-encoded nested object such as `counts` has no
        # agreed spelling, so the schema offers JSON only, as the 415 answer says.
        return [media_type for media_type in super().map_parsers() if media_type == "application/json"]

    def get_request_serializer(self):
        # Reached when no `extend_schema(request=...)` applies: a DELETE then takes no body.
        if self.method == "DELETE":
            return None
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies of POST, PUT and PATCH only; a DELETE that declares one (destroying an
        # app takes `{"confirm": NAME}`) gets it documented too.
        body = super()._get_request_body(direction)
        serializer = self.get_request_serializer() if self.method == "DELETE" else None
        if body is not None or serializer is None:
            return body
        schema, required = self._get_request_for_media_type(serializer, direction)
        return {"content": {"application/json": {"schema": schema}}, "required": required}

    def _get_request_for_media_type(self, serializer, direction="request"):
        # Our PATCH endpoints validate their whole body (`{"counts": {...}}` is required), not partially as DRF's
        # generic views do; so a PATCH body is documented as it is validated, not as a "Patched" partial copy.
        if self.method != "PATCH":
            return super()._get_request_for_media_type(serializer, direction)
        self.method = "POST"
        try:
            return super()._get_request_for_media_type(serializer, direction)
        finally:
            self.method = "PATCH"

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for code, description in ERROR_STATUSES.items():
            error = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
            bodies.setdefault(str(code), {**error, "description": description})
        return bodies
