"""The API's schema class: base's shared contract, told what idempotency replays."""

from django.urls import reverse

from base.openapi import ContractAutoSchema
from idempotency.middleware import IdempotencyMiddleware


class ApiSchema(ContractAutoSchema):
    never_replayed = IdempotencyMiddleware.NOT_STORED

    def keyed_anonymous_paths(self) -> frozenset[str]:
        return frozenset({reverse(IdempotencyMiddleware.REGISTER_URL_NAME)})
