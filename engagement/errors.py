from base.errors import DomainError


class AccountUnavailable(DomainError):
    """The token is valid but its user was deactivated or deleted since."""

    status = 401
    code = "account_unavailable"
    default_detail = "This account is not active."
