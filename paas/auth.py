"""API authentication: `Authorization: Token KEY`, checked against the hashed keys of apps.models.ApiToken."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

KEYWORD = "Token"
NEW_TOKEN_ADVICE = "log in with a token that works (`paas tokens create` makes one), or ask staff for one"


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request by its API token; an unknown, revoked or expired token is a 401 that says which."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != KEYWORD.lower().encode():
            return None
        if len(words) != 2:
            raise AuthenticationFailed(f"the Authorization header is `{KEYWORD} KEY`: one key, without spaces")
        try:
            key = words[1].decode()
        except UnicodeError as error:
            raise AuthenticationFailed("invalid token: a key is plain ASCII") from error
        return self.authenticate_key(key)

    def authenticate_key(self, key: str):
        # Imported here: DRF imports this class while Django is still loading the models.
        from apps.selectors import token_find
        from apps.services import token_touch

        token = token_find(key=key)
        if token is None or not token.user.is_active:
            raise AuthenticationFailed(f"invalid token (unknown or revoked); {NEW_TOKEN_ADVICE}")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            expired = token.expires_at.strftime("%Y-%m-%d %H:%M UTC")
            raise AuthenticationFailed(f"token {token.key_prefix}... expired at {expired}; {NEW_TOKEN_ADVICE}")
        token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request):
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token header in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=KEYWORD)
