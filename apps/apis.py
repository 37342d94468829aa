"""REST endpoints for apps and who may use them, SSH keys, users, API tokens and the audit events."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps import logs, selectors, services
from apps.models import ApiToken, App, Event, Key
from paas.services import app_destroy

TOKEN_MAX_LIFETIME = 10 * 365 * 24 * 3600  # seconds


class AppSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = App
        fields = ["name", "owner", "created_at"]


class AppCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class AppDestroySerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The app's name again, to confirm.")


class KeySerializer(serializers.ModelSerializer):
    class Meta:
        model = Key
        fields = ["fingerprint", "comment", "public_key", "created_at"]


class KeyCreateSerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="The OpenSSH public key line (the .pub file).")
    challenge = serializers.CharField(
        help_text=f"A challenge from POST /api/keys/challenge/, at most {services.KEY_CHALLENGE_MAX_AGE}s old.",
        error_messages=dict.fromkeys(
            ("required", "blank"),
            "missing: adding a key needs proof that you hold its private key; `paas keys add` makes it",
        ),
    )
    signature = serializers.CharField(
        help_text="The armored SSH signature (-----BEGIN SSH SIGNATURE-----) of exactly the challenge's text, made "
        "with the key's private key: `ssh-keygen -Y sign -n paas-key -f PRIVATE_KEY_FILE CHALLENGE_FILE`.",
        error_messages=dict.fromkeys(
            ("required", "blank"),
            "missing: the challenge signed with ssh-keygen -Y sign -n paas-key -f PRIVATE_KEY_FILE",
        ),
    )


class KeyChallengeSerializer(serializers.Serializer):
    challenge = serializers.CharField(help_text="The text to sign, exactly (no newline after it).")
    namespace = serializers.CharField(help_text="The namespace to sign in: `ssh-keygen -Y sign -n NAMESPACE`.")
    expires_in = serializers.IntegerField(help_text="Seconds until the challenge expires.")


class AccessSerializer(serializers.Serializer):
    user = serializers.CharField()
    role = serializers.ChoiceField(choices=["owner", "collaborator"])
    since = serializers.DateTimeField()


class AccessAddSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="The user to add as a collaborator.")


class TokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(source="key_prefix", help_text="The key's first characters, to tell tokens apart")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at"]


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(help_text="The token itself: shown this once, never stored")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, default="token", help_text="What the token is for.")
    expires_in = serializers.IntegerField(
        min_value=60,
        max_value=TOKEN_MAX_LIFETIME,
        required=False,
        allow_null=True,
        help_text="Seconds until the token stops working; null or absent: never.",
    )


class UserSerializer(serializers.ModelSerializer):
    username = serializers.CharField()  # without the model's pattern: Python's \w is not JSON Schema's

    class Meta:
        model = get_user_model()
        fields = ["username", "is_staff", "date_joined"]


class UserCreatedSerializer(UserSerializer):
    token = serializers.CharField(help_text="The new user's first API token: shown this once, never stored")

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "token"]


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    is_staff = serializers.BooleanField(default=False, help_text="An operator: sees and changes every app.")


class EventSerializer(serializers.ModelSerializer):
    app = serializers.CharField(source="app_name")
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)

    class Meta:
        model = Event
        fields = ["id", "app", "actor", "action", "detail", "created_at"]


class AppListApi(APIView):
    """Lists the caller's apps; creates an app."""

    @extend_schema(responses=AppSerializer(many=True))
    def get(self, request):
        return Response(AppSerializer(selectors.app_list(user=request.user), many=True).data)

    @extend_schema(request=AppCreateSerializer, responses={201: AppSerializer})
    def post(self, request):
        params = AppCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app = services.app_create(owner=request.user, name=params.validated_data.get("name") or None)
        return Response(AppSerializer(app).data, status=status.HTTP_201_CREATED)


class AppDetailApi(APIView):
    """Shows one app; DELETE with `{"confirm": NAME}` destroys it and everything it made."""

    @extend_schema(responses=AppSerializer)
    def get(self, request, name):
        return Response(AppSerializer(selectors.app_get(user=request.user, name=name)).data)

    @extend_schema(request=AppDestroySerializer, responses={204: None})
    def delete(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        services.app_manage_check(app=app, actor=request.user, doing=f"destroy {app.name}")
        params = AppDestroySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        app_destroy(app=app, actor=request.user, confirm=params.validated_data["confirm"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppAccessListApi(APIView):
    """Who may see and change the app (its owner and collaborators); the owner or staff add collaborators."""

    @extend_schema(responses=AccessSerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(AccessSerializer(selectors.access_list(app=app), many=True).data)

    @extend_schema(request=AccessAddSerializer, responses={201: AccessSerializer})
    def post(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = AccessAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        added = services.access_add(app=app, username=params.validated_data["username"], actor=request.user)
        row = {"user": added.user.username, "role": "collaborator", "since": added.created_at}
        return Response(AccessSerializer(row).data, status=status.HTTP_201_CREATED)


class AppAccessDetailApi(APIView):
    """Removes a collaborator from the app; the owner or staff may."""

    @extend_schema(responses={204: None})
    def delete(self, request, name, username):
        app = selectors.app_get(user=request.user, name=name)
        services.access_remove(app=app, username=username, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppEventListApi(APIView):
    """The audit trail of one app, newest first."""

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        return Response(EventSerializer(selectors.event_list(user=request.user, app=app), many=True).data)


class EventListApi(APIView):
    """Events the caller may see, newest first: staff see the whole platform's."""

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request):
        return Response(EventSerializer(selectors.event_list(user=request.user), many=True).data)


class KeyListApi(APIView):
    """Lists the caller's SSH keys; adds one, with proof that the caller holds its private key (see keys/challenge/)."""

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request):
        return Response(KeySerializer(selectors.key_list(user=request.user), many=True).data)

    @extend_schema(request=KeyCreateSerializer, responses={201: KeySerializer})
    def post(self, request):
        params = KeyCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        key = services.key_add_proven(user=request.user, **params.validated_data)
        return Response(KeySerializer(key).data, status=status.HTTP_201_CREATED)


class KeyChallengeApi(APIView):
    """A challenge to sign with the private key of a key you add: the proof that POST /api/keys/ asks for."""

    @extend_schema(request=None, responses={201: KeyChallengeSerializer})
    def post(self, request):
        challenge = {
            "challenge": services.key_challenge_create(user=request.user),
            "namespace": services.KEY_PROOF_NAMESPACE,
            "expires_in": services.KEY_CHALLENGE_MAX_AGE,
        }
        return Response(KeyChallengeSerializer(challenge).data, status=status.HTTP_201_CREATED)


class KeyDetailApi(APIView):
    """Removes one of the caller's SSH keys."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "fingerprint",
                str,
                OpenApiParameter.PATH,
                pattern=r"^SHA256:[A-Za-z0-9+/]{43}$",
                description="The key's SHA256 fingerprint, as `paas keys` shows it",
            )
        ],
        responses={204: None},
    )
    def delete(self, request, fingerprint):
        services.key_remove(user=request.user, fingerprint=fingerprint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(APIView):
    """Lists the caller's API tokens; makes one (its key is in the answer, this once)."""

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        return Response(TokenSerializer(selectors.token_list(user=request.user), many=True).data)

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def post(self, request):
        params = TokenCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        seconds = params.validated_data.get("expires_in")
        token, key = services.token_create(
            user=request.user,
            name=params.validated_data["name"],
            expires_in=timedelta(seconds=seconds) if seconds else None,
            actor=request.user,
        )
        return Response({**TokenSerializer(token).data, "key": key}, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    """Revokes one of the caller's API tokens."""

    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        services.token_revoke(user=request.user, token_id=token_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserListApi(APIView):
    """Staff only: lists users; creates one, with a first API token (its key is in the answer, this once)."""

    @extend_schema(responses=UserSerializer(many=True))
    def get(self, request):
        return Response(UserSerializer(selectors.user_list(user=request.user), many=True).data)

    @extend_schema(request=UserCreateSerializer, responses={201: UserCreatedSerializer})
    def post(self, request):
        params = UserCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        user, _, key = services.user_create(**params.validated_data, actor=request.user)
        return Response({**UserSerializer(user).data, "token": key}, status=status.HTTP_201_CREATED)


class AppLogParams(serializers.Serializer):
    lines = serializers.IntegerField(
        default=100, min_value=0, max_value=logs.TAIL_MAX_LINES, help_text="How many of the last entries to show."
    )
    follow = serializers.BooleanField(default=False, help_text="Keep the response open and add entries as they come.")
    process = serializers.RegexField(
        r"^[a-z][a-z0-9_-]*$", max_length=30, required=False, help_text="Only this process type's (e.g. web)."
    )
    since = serializers.CharField(
        max_length=64, required=False, help_text="Only entries since then: 10m, 2h, 1d, or an ISO 8601 time (UTC)."
    )

    def validate_since(self, value):
        try:
            return logs.log_since(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error


class AppLogApi(APIView):
    """The app's log, as text: its jobs' output (`web.1 v7 stdout: ...`) and the platform's events about it
    (`paas[scheduler]: ...`), oldest first; with `follow`, streamed as they are written, across deploys."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)  # errors in JSON, whatever was asked for

    @extend_schema(
        parameters=[AppLogParams],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="One entry a line: `TIME SOURCE: TEXT` (TIME in UTC, ISO 8601)."
            )
        },
    )
    def get(self, request, name):
        app = selectors.app_get(user=request.user, name=name)
        params = AppLogParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        stream = logs.app_log_stream_async if isinstance(request._request, ASGIRequest) else logs.app_log_stream
        entries = stream(
            app_name=app.name,
            lines=query["lines"],
            log_filter=logs.LogFilter(process=query.get("process"), since=query.get("since")),
            follow=query["follow"],
        )
        response = StreamingHttpResponse(entries, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
