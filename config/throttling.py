"""Rate limits beyond DRF's defaults (rates in settings.REST_FRAMEWORK)."""

from rest_framework.throttling import SimpleRateThrottle

from users.models import normalize_email


class RegisterRateThrottle(SimpleRateThrottle):
    """Registrations per client IP."""

    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(SimpleRateThrottle):
    """Login attempts per client IP and e-mail: guessing one account's password
    is slowed without locking its owner out from elsewhere."""

    scope = "login"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        email = normalize_email(email) if isinstance(email, str) else ""
        ident = f"{self.get_ident(request)}:{email}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
