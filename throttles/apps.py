from django.apps import AppConfig


class ThrottlesConfig(AppConfig):
    name = "throttles"
    default_auto_field = "django.db.models.BigAutoField"
