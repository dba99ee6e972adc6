from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """A user's rights over their data: the export of every row about them and
    the erasure of the account with all of it (self-service and by staff), with
    the audit row an erasure leaves. It reads every app's tables, so it sits on
    the floor just below the back office, above every domain app."""

    name = "privacy"
    default_auto_field = "django.db.models.BigAutoField"
