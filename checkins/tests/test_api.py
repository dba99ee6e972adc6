import pytest

pytestmark = pytest.mark.django_db


def test_first_checkin_creates_a_row_and_updates_state(auth_client):
    response = auth_client.post("/api/v1/checkins")
    assert response.status_code == 201
    assert response.json()["state"]["energy"] == 70
