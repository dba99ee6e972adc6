from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    """``Idempotency-Key`` for every authenticated POST: the key rows, the
    middleware that replays a repeat, and ``prune_idempotency_keys``. It knows
    the account model (whose token names the key's owner), no domain app."""

    name = "idempotency"
    default_auto_field = "django.db.models.BigAutoField"
