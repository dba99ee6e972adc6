import factory

from base.testing import ModelFactory
from engagement.models import LedgerEntry, LedgerKind, UserState
from users.tests.factories import UserFactory


class UserStateFactory(ModelFactory[UserState]):
    """A user's state with the documented initial values (the model defaults)."""

    class Meta:
        model = UserState

    user = factory.SubFactory(UserFactory)


class LedgerEntryFactory(ModelFactory[LedgerEntry]):
    class Meta:
        model = LedgerEntry

    user = factory.SubFactory(UserFactory)
    kind = LedgerKind.CHECKIN
    ref = "2025-03-10"
    energy = 20
    fatigue = 10
    loyalty = 5
    state_after = factory.LazyFunction(lambda: {"level": 1, "energy": 70, "loyalty": 5})
