import datetime as dt

import factory

from base.testing import ModelFactory
from checkins.models import CheckIn
from users.tests.factories import UserFactory


class CheckInFactory(ModelFactory[CheckIn]):
    class Meta:
        model = CheckIn

    user = factory.SubFactory(UserFactory)
    date = factory.Sequence(lambda n: dt.date(2025, 1, 1) + dt.timedelta(days=n))
    streak = 1
