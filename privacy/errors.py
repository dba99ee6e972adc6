from base.errors import DomainError


class InvalidErasureReason(DomainError):
    status = 400
    code = "invalid_reason"
    default_detail = "A staff erasure needs a reason of at most 500 characters."


class ReasonNamesTheAccount(DomainError):
    status = 400
    code = "reason_names_the_account"
    default_detail = (
        "The reason is kept after the account is gone: it must not contain the account's "
        "e-mail address or id."
    )
