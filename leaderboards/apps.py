from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    name = "leaderboards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every state change moves the user's scores on the boards, in the
        # change's own write. Independent of the other steps (it reads only
        # the change's steps and states), so INSTALLED_APPS' order is free.
        from engagement.services import register_after_change
        from leaderboards.services import BOARDS_STEP, boards_record, opt_in_changed
        from users.signals import leaderboard_opt_in_changed

        register_after_change(BOARDS_STEP, boards_record)
        leaderboard_opt_in_changed.connect(opt_in_changed, dispatch_uid="leaderboards.opt_in")
