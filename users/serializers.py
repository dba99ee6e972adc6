from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from base.serializers import ProblemSerializer, StrictInputSerializer
from engagement.serializers import StateOutputSerializer
from engagement.statements import Profile
from users.models import User, normalize_email
from users.timezones import TIMEZONE_NAMES, known_timezones


class TimezoneField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "An IANA time zone name, e.g. Europe/Warsaw.")
        super().__init__(choices=TIMEZONE_NAMES, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or data not in known_timezones():
            raise serializers.ValidationError(
                f"{data!r} is not a known IANA time zone name.", code="invalid_timezone"
            )
        return data


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    timezone = serializers.CharField()
    date_joined = serializers.DateTimeField()
    leaderboard_opt_in = serializers.BooleanField(
        help_text="Shown on the leaderboards (as `display_name`, or a neutral alias when "
        "it is empty; never the e-mail)."
    )


_DATETIME = serializers.DateTimeField()


def user_data(user: User | Profile) -> dict:
    """The ``user`` object of a response, as ``UserOutputSerializer`` documents it."""
    return {
        "id": str(user.pk),
        "email": user.email,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "date_joined": _DATETIME.to_representation(user.date_joined),
        "leaderboard_opt_in": user.leaderboard_opt_in,
    }


@extend_schema_field(
    {
        "type": "string",
        "minLength": 8,
        "maxLength": 128,
        # No NUL (DRF refuses it), and one character at least that is not a digit.
        "pattern": "^[^\\u0000]*[^\\u00000-9][^\\u0000]*$",
    }
)
class PasswordField(serializers.CharField):
    """A new password. The schema says what a schema can of the password
    validators (8 characters at least, not all digits); not too common and not
    like the e-mail are checked too (400 on the field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_length", 8)
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


class RegisterInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)
    password = PasswordField(
        help_text="At least 8 characters; not too common, not all digits, not like the e-mail.",
    )
    timezone = TimezoneField(required=False, default="UTC")
    display_name = serializers.CharField(
        max_length=100, required=False, default="", allow_blank=True
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        candidate = User(email=normalize_email(attrs["email"]))
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInputSerializer(StrictInputSerializer):
    refresh = serializers.CharField(max_length=2000)


class NoInputSerializer(StrictInputSerializer):
    """Bodiless actions (sign out everywhere): an empty body or ``{}`` passes."""


class LogoutInputSerializer(StrictInputSerializer):
    refresh = serializers.CharField(
        max_length=2000, help_text="The refresh token of the session to sign out."
    )


class NewPasswordField(PasswordField):
    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "Checked by the password validators: at least 8 characters, not too common, "
            "not all digits, not like the e-mail.",
        )
        super().__init__(**kwargs)


class PasswordChangeInputSerializer(StrictInputSerializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = NewPasswordField()


class PasswordResetInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmInputSerializer(StrictInputSerializer):
    uid = serializers.CharField(max_length=100, help_text="`uid` from the reset e-mail.")
    token = serializers.CharField(max_length=100, help_text="`token` from the reset e-mail.")
    new_password = NewPasswordField()


class AuthOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class DetailOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    state = StateOutputSerializer()


class MeUpdateInputSerializer(StrictInputSerializer):
    timezone = TimezoneField(required=False)
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    leaderboard_opt_in = serializers.BooleanField(
        required=False, help_text="false: not shown on any leaderboard (nor counted in it)."
    )


class ProfileConflictSerializer(ProblemSerializer):
    """A refused profile change (409)."""

    allowed_at = serializers.DateTimeField(
        required=False,
        help_text="`timezone_change_too_soon` only: when the time zone can change again.",
    )
