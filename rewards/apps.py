from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every state change unlocks what its new state meets.
        from engagement.services import register_after_change
        from rewards.services.unlock import UNLOCK_STEP, rewards_unlock

        register_after_change(UNLOCK_STEP, rewards_unlock)
