import factory
from rest_framework.test import APIClient

from base.testing import ModelFactory
from users.models import User
from users.tokens import token_pair

TEST_PASSWORD = "a-long-test-password-42"


class UserFactory(ModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("first_name")
    timezone = "UTC"
    password = factory.django.Password(TEST_PASSWORD)


def client_for(user: User) -> APIClient:
    """An API client holding a fresh access token for ``user`` (issued at the
    current, possibly travelled, time)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}")
    return client
