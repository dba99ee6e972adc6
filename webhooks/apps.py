from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.signals import events_recorded
        from webhooks import subscriptions

        # In the transaction that wrote the events: enqueue their fan-out.
        events_recorded.connect(subscriptions.stage_fan_out, dispatch_uid="webhooks.fan_out")
