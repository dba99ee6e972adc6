from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import views

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/v1/", include("config.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs load nothing from elsewhere: ReDoc's page without its web fonts, and
    # both under a content security policy that allows this server only.
    path(
        "api/docs/",
        views.local_only(SpectacularSwaggerView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        views.local_only(
            SpectacularRedocView.as_view(url_name="schema", template_name="openapi/redoc.html")
        ),
        name="redoc",
    ),
    path("admin/", admin.site.urls),
    # Unknown API addresses answer with a problem even when DEBUG shows HTML pages.
    re_path(r"^api/", views.api_not_found),
]

handler400 = "base.errors.bad_request"
handler403 = "base.errors.permission_denied"
handler404 = "base.errors.page_not_found"
handler500 = "base.errors.server_error"
