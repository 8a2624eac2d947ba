"""URLs of the public site (the base domain): signup, operator admin, API schema."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing import urls as billing_urls
from capacity import urls as capacity_urls
from portal import health
from tenants import views as tenant_views
from tenants.api import views as tenant_api

urlpatterns = [
    path("", tenant_views.signup_page, name="signup"),
    path("signup/<slug:slug>/", tenant_views.signup_status_page, name="signup-status"),
    path("admin/", admin.site.urls),
    path("", include(capacity_urls.operator_urlpatterns)),
    path("", include(billing_urls.operator_urlpatterns)),
    path("api/v1/signup/", tenant_api.SignupView.as_view(), name="api-signup"),
    path(
        "api/v1/signup/<slug:slug>/",
        tenant_api.SignupStatusView.as_view(),
        name="api-signup-status",
    ),
    path(
        "api/v1/schema/",
        SpectacularAPIView.as_view(urlconf="portal.urls_public"),
        name="api-schema",
    ),
    # The split view serves its init script as a file: the CSP allows no inline script.
    path(
        "api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
]

# JSON for unknown /api/ paths (e.g. a non-numeric id), Django's page elsewhere.
handler404 = "portal.not_found.not_found"
