from base.errors import DomainError


class AlreadyCheckedIn(DomainError):
    status = 409
    code = "already_checked_in"
    default_detail = "You have already checked in today."
