import uuid
from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as django_timezone

from users.timezones import validate_timezone


def normalize_email(email: str) -> str:
    """E-mail addresses are stored trimmed and lower-cased; the database also
    refuses two addresses that differ only in case."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=None if username is None else normalize_email(username))

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored lower-cased (see normalize_email), so the plain unique index that
    # Django's auth requires and the lower(email) constraint agree.
    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    timezone_changed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the time zone was last changed; changes are rate-limited.",
    )
    is_active = models.BooleanField(default=True)
    # Shown on the leaderboards (by display name or a neutral alias, never the
    # e-mail). The state row keeps a copy for the check-in's lock and the
    # streak board's index (engagement.UserState.leaderboard_opt_in), written
    # in the same transaction under the state lock (users.services).
    leaderboard_opt_in = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Shown on the leaderboards (as the display name or a neutral alias).",
    )
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=django_timezone.now)
    # Every token carries the version it was issued at (users.tokens); a token
    # of another version is revoked. Raised by one F() + 1 UPDATE whenever all
    # earlier tokens must stop working (users.services). The database default
    # lets rows inserted outside the ORM (bulk loads, the benchmark) start at 0.
    token_version = models.PositiveIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Raised to revoke every token issued before (password change or reset, "
        "sign-out everywhere, deactivation).",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        indexes = [
            # The streak jobs select the users of the zones at a given local
            # hour (events.streaks): a tick reads only those users.
            models.Index(fields=["timezone"], name="users_user_timezone_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="users_user_email_ci_unique",
                violation_error_code="email_taken",
                violation_error_message="A user with this e-mail address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)
