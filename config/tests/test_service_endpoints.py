import pytest

pytestmark = pytest.mark.django_db


def test_root_links_to_everything(api_client):
    links = api_client.get("/").json()["links"]

    assert links["schema"] == "/api/schema/"
    assert links["docs"] == "/api/docs/"
    assert links["redoc"] == "/api/redoc/"
    assert links["health"] == "/healthz"
    assert links["ready"] == "/readyz"


def test_api_root_lists_the_resources(api_client):
    links = api_client.get("/api/v1/").json()["links"]

    assert links["checkins"] == "/api/v1/checkins"
    assert links["me"] == "/api/v1/me"


def test_healthz_and_readyz(api_client):
    assert api_client.get("/healthz").json() == {"status": "ok"}
    assert api_client.get("/readyz").json() == {"status": "ready", "database": "ok"}


def test_schema_describes_the_api(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/checkins", "/api/v1/me", "/api/v1/auth/register"} <= set(schema["paths"])
    checkin_responses = schema["paths"]["/api/v1/checkins"]["post"]["responses"]
    assert {"201", "401", "409"} <= set(checkin_responses)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_locally(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    for cdn in ("cdn.", "unpkg", "jsdelivr", "fonts.googleapis", "fonts.gstatic"):
        assert cdn not in html
    assert "://" not in html  # every address is this server's


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html"])
def test_root_answers_api_clients_with_json(api_client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api_client.get("/", **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == "Stateful Engagement Backend"
    assert "Accept" in response["Vary"]


def test_root_shows_browsers_a_page_of_links(client):
    response = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Accept" in response["Vary"]
    html = response.content.decode()
    assert "<h1>Stateful Engagement Backend</h1>" in html
    for href in ("/api/docs/", "/api/redoc/", "/admin/", "/healthz"):
        assert f'href="{href}"' in html
    assert "://" not in html  # nothing from elsewhere
