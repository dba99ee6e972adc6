from django.apps import AppConfig


class BaseConfig(AppConfig):
    """The bottom floor: domain-free building blocks every app may use (problem
    errors, base serializers, pagination, parsers, admin mixins, OpenAPI
    helpers, request plumbing). It imports no app of this project."""

    name = "base"
    default_auto_field = "django.db.models.BigAutoField"
