from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI extension for the authentication class, and
        # connects the receiver that keeps simplejwt in step with SIMPLE_JWT
        # (before any test changes it).
        from users import authentication, schema  # noqa: F401
