"""The API's one request body format: JSON, refused with a 400 (never a 500) however it is malformed."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class PaasJSONParser(JSONParser):
    """DRF's JSON parser, that also refuses nesting too deep to parse (a RecursionError) as a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
