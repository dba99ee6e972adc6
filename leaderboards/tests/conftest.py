import pytest

from leaderboards.services import board_score_mismatches


@pytest.fixture(autouse=True)
def _histograms_follow_the_rows(request):
    """Every test here builds its data through the services: at its end the
    boards' histograms count exactly what the rows hold."""
    yield
    if (
        "db" in request.fixturenames
        or "transactional_db" in request.fixturenames
        or any(mark.name == "django_db" for mark in request.node.iter_markers())
    ):
        assert board_score_mismatches() == {}
