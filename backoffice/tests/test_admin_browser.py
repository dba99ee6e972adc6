"""A staff member's afternoon in a real browser: Debian's Chromium driven by
Playwright against a live server. Logs in, creates a reward, grants loyalty
with a reason, opens the dashboard and sees its charts. Screenshots of each
step are kept in ``artifacts/screenshots/``.

Chromium is the system's (``apt-get install chromium``; ``.ci/run`` installs
it), never a browser build downloaded by Playwright. Without it this test
fails, it is not skipped.
"""

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from backoffice.simulation import simulate
from checkins.models import CheckIn
from engagement.models import LedgerEntry
from rewards.catalog import catalog_seed
from rewards.models import Reward
from users.tests.factories import TEST_PASSWORD, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(live_server, settings):
    """Opens Chromium on demand: ``with browser_page() as page``. Playwright's
    sync API runs an event loop in this thread, and Django refuses database
    calls while one runs, so tests set data up before and check it after."""
    # The live server speaks plain HTTP: secure-only cookies would never come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser test needs Debian's "
            "chromium (`apt-get install chromium`, as .ci/run does) or CHROMIUM_PATH set. "
            "Never `playwright install`."
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def open_page() -> Iterator[Page]:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(20_000)
                yield page
            finally:
                browser.close()

    return open_page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_staff_create_a_reward_grant_loyalty_and_read_the_dashboard(live_server, browser_page):
    # Given: a staff account, the default catalog, two weeks of simulated players
    # (for the charts) and Ann, who needs help.
    UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    ann = UserFactory(email="ann@example.com")
    catalog_seed()
    today = timezone.now().date()
    simulate(users=8, days=14, seed=1, start=today - dt.timedelta(days=14))
    checkins_shown = CheckIn.objects.filter(date__gt=today - dt.timedelta(days=30)).count()
    base = live_server.url

    with browser_page() as page:
        # Log in.
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "staff@example.com")
        page.fill("#id_password", TEST_PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#site-name")).to_contain_text("Engagement administration")
        shot(page, "01-admin-index")

        # Create a reward: a bad effects object is refused, a good one saved.
        page.goto(f"{base}/admin/rewards/reward/add/")
        page.fill("#id_id", "streak_14")
        page.fill("#id_title", "Two weeks")
        page.select_option("#id_rule", "streak")
        page.fill("#id_threshold", "14")
        page.fill("#id_effects", '{"loyalty": "lots"}')
        page.click("input[name=_save]")
        expect(page.locator(".errorlist")).to_contain_text("Effect loyalty must be an integer.")
        shot(page, "02-reward-invalid-effects")
        page.fill("#id_effects", '{"loyalty": 40, "streak_freezes": 1}')
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        shot(page, "03-reward-added")

        # Grant loyalty to Ann from the user list, with a reason.
        page.goto(f"{base}/admin/users/user/?q=ann%40example.com")
        page.check("input.action-select")
        page.select_option("select[name=action]", "grant_loyalty")
        page.click("button[name=index]")
        expect(page.locator("h1")).to_contain_text("Grant loyalty")
        page.fill("#id_grant-amount", "25")
        page.fill("#id_grant-reason", "Support ticket 42: lost streak")
        shot(page, "04-grant-form")
        page.click("#state-action-form input[type=submit]")
        expect(page.locator(".messagelist")).to_contain_text(
            "Grant loyalty — done for 1: ann@example.com (loyalty +25)"
        )
        shot(page, "05-granted")

        # The user's page shows the new state and the ledger entry with its reason.
        page.click("#result_list tbody th a")  # the (only) user found
        expect(page.locator(".engagement-state")).to_be_visible()
        expect(page.locator("body")).to_contain_text("Support ticket 42: lost streak")
        shot(page, "06-user-page")

        # The dashboard, from the admin index.
        page.goto(f"{base}/admin/")
        page.click("#overview-dashboard a")
        expect(page.locator("h1")).to_contain_text("Engagement dashboard")
        expect(page.locator("svg.chart")).to_have_count(4)
        expect(page.locator("#chart-checkins svg rect.bar")).to_have_count(30)
        expect(page.locator("#total-checkins")).to_have_text(str(checkins_shown))
        expect(page.locator("#chart-funnel")).to_contain_text("Two weeks")
        shot(page, "07-dashboard")

    # Then the data is what the browser did, through the services.
    assert Reward.objects.get(pk="streak_14").effects == {"loyalty": 40, "streak_freezes": 1}
    grant = LedgerEntry.objects.get(user=ann, kind="admin_grant")
    assert (grant.loyalty, grant.reason) == (25, "Support ticket 42: lost streak")
    for name in ("01-admin-index", "04-grant-form", "07-dashboard"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 0
