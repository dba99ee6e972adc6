from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After rewards' unlock step (INSTALLED_APPS lists rewards first, and the
        # envelope runs its steps in registration order): the events of a change
        # include its unlocks and auto-claims.
        from engagement.services import register_after_change
        from events.services import EVENTS_STEP, events_record

        register_after_change(EVENTS_STEP, events_record)
