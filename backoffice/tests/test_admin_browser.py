"""A staff member's afternoon in a real browser: Debian's Chromium driven by
Playwright against a live server. Logs in, creates a reward, grants loyalty
with a reason, opens the dashboard and sees its charts; adjusts a simulated
user's state and reads their page; and the service's own pages (``/`` and
the API docs) load nothing from any other host. Screenshots of each step are
kept in ``artifacts/screenshots/`` (or ``$SCREENSHOTS_DIR``); the test prints
where.

Chromium is the system's (``apt-get install chromium``; ``.ci/run`` installs
it), never a browser build downloaded by Playwright. Without it this test
fails, it is not skipped.
"""

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from backoffice.simulation import simulate
from checkins.models import CheckIn
from engagement.models import LedgerEntry, UserState
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
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(settings.BASE_DIR) / "artifacts" / "screenshots"
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

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
    print(f"screenshots: {SCREENSHOTS}")

    @contextlib.contextmanager
    def open_page(width: int = 1280) -> Iterator[Page]:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.set_default_timeout(20_000)
                yield page
            finally:
                browser.close()

    return open_page


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "staff@example.com")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Engagement administration")


def record_requests(page: Page) -> list[str]:
    """Every request the page makes, in order; any to another host is
    answered with a failure instead of leaving the machine."""
    seen: list[str] = []

    def handle(route) -> None:
        url = route.request.url
        seen.append(url)
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname not in LOCAL_HOSTS:
            route.abort()
        else:
            route.continue_()

    page.route("**/*", handle)
    return seen


def elsewhere(urls: list[str]) -> list[str]:
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob")
        and urlsplit(url).hostname not in LOCAL_HOSTS
    ]


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
        log_in(page, base)
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


def test_the_service_pages_load_nothing_from_elsewhere(live_server, browser_page):
    base = live_server.url

    with browser_page() as page:
        requests = record_requests(page)

        # /: a page of links for a browser.
        page.goto(f"{base}/")
        expect(page.locator("h1")).to_have_text("Stateful Engagement Backend")
        for href in ("/api/docs/", "/api/redoc/", "/admin/", "/healthz"):
            expect(page.locator(f'#links a[href="{href}"]')).to_have_count(1)
        shot(page, "10-root")

        # Swagger UI, drawn from the local schema.
        page.goto(f"{base}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "Stateful Engagement Backend API"
        )
        expect(page.locator(".opblock").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        shot(page, "11-swagger-ui", full_page=False)

        # ReDoc, likewise, in the system's fonts.
        page.goto(f"{base}/api/redoc/")
        expect(page.locator("h1").first).to_contain_text("Stateful Engagement Backend API")
        page.wait_for_load_state("networkidle")
        shot(page, "12-redoc", full_page=False)  # the window: the whole page is ~60,000 px

    assert any("/static/drf_spectacular_sidecar/redoc/" in url for url in requests)
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in requests)
    assert any(url.endswith("/api/schema/") for url in requests)
    assert elsewhere(requests) == []


def test_staff_adjust_a_simulated_users_state_and_read_their_page(live_server, browser_page):
    # Given: a staff account and a month of simulated play (long histories).
    UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    catalog_seed()
    today = timezone.now().date()
    simulate(users=6, days=30, seed=3, start=today - dt.timedelta(days=30))
    state = (
        UserState.objects.select_related("user")
        .filter(energy__gte=10, user__email__endswith="@simulated.invalid")
        .order_by("-total_checkins")
        .first()
    )
    assert state is not None
    email, before = state.user.email, state
    base = live_server.url

    with browser_page(width=1280) as page:
        log_in(page, base)

        # The user list shows the state's columns, and fits the window.
        page.goto(f"{base}/admin/users/user/")
        for column in ("level", "streak", "loyalty", "last_checkin"):
            expect(page.locator(f"#result_list thead th.column-{column}")).to_have_count(1)
        shot(page, "20-user-list")
        overflow = page.evaluate(
            "() => { const t = document.querySelector('#result_list');"
            " return t.scrollWidth - t.parentElement.clientWidth; }"
        )
        assert overflow <= 0, f"the user list is clipped: {overflow}px wider than its box"

        # Adjust the state: the form shows the current values and signed changes.
        page.goto(f"{base}/admin/users/user/?q={email.replace('@', '%40')}")
        page.check("input.action-select")
        page.select_option("select[name=action]", "adjust_state")
        page.click("button[name=index]")
        expect(page.locator("h1")).to_contain_text("Adjust state")
        current = page.locator("#current-values tbody tr").first
        expect(current).to_contain_text(email)
        cells = current.locator("td")
        expect(cells).to_have_text(
            [
                str(before.level),
                str(before.energy),
                str(before.fatigue),
                str(before.loyalty),
                str(before.streak_freezes),
            ]
        )
        expect(page.locator("label[for=id_grant-energy]")).to_have_text("Energy change (±):")
        expect(page.locator("#id_grant-energy")).to_have_value("")
        expect(page.locator("#id_grant-energy")).to_have_attribute("placeholder", "±0")
        page.fill("#id_grant-energy", "-10")
        page.fill("#id_grant-loyalty", "+5")
        page.fill("#id_grant-reason", "Support ticket 77: double charge")
        shot(page, "21-adjust-form")
        page.click("#state-action-form input[type=submit]")
        expect(page.locator(".messagelist")).to_contain_text(
            f"Adjust state — done for 1: {email} (energy -10, loyalty +5)"
        )

        # The user's page: the state, compact newest-first tables, no per-row headers.
        page.click("#result_list tbody th a")
        expect(page.locator(".engagement-state")).to_be_visible()
        expect(page.locator("#ledger_entries-group")).to_contain_text(
            "Support ticket 77: double charge"
        )
        expect(page.locator("#checkins-group tr.compact-row")).to_have_count(20)
        expect(page.locator(".inline-group td.original")).to_have_count(0)
        held = page.locator("#inventory-group td.field-quantity")
        for quantity in held.all_inner_texts():
            assert int(quantity) > 0
        shot(page, "22-user-page")
        page.locator("#ledger_entries-group").screenshot(path=str(SCREENSHOTS / "23-ledger.png"))
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 3600, f"the user's page is {height}px tall"
        inlines = "\n".join(page.locator(".inline-group").all_inner_texts())
        assert not UUID.search(inlines), "a row of the user's tables names a UUID"

    # Then the change went through the service, with its ledger entry.
    after = UserState.objects.get(user__email=email)
    assert (after.energy, after.loyalty) == (before.energy - 10, before.loyalty + 5)
    entry = LedgerEntry.objects.filter(user__email=email, kind="admin_adjust").get()
    assert (entry.energy, entry.loyalty, entry.reason) == (
        -10,
        5,
        "Support ticket 77: double charge",
    )
