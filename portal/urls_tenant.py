"""URLs of a tenant's site (<slug>.<base domain>): search UI, admin pages and the API."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing import urls as billing_urls
from capacity import urls as capacity_urls
from portal import health
from search import views as search_views
from tenants import views as tenant_views
from tenants.accounts import security_views

search_patterns = (
    [
        path("", search_views.search_page, name="home"),
        path("repositories/", search_views.repositories_page, name="repositories"),
        path("repositories/<int:repository_id>/", search_views.repository_page, name="repository"),
        path(
            "repositories/<int:repository_id>/index/",
            search_views.start_index,
            name="repository-index",
        ),
        path(
            "repositories/<int:repository_id>/delete/",
            search_views.remove_repository,
            name="repository-delete",
        ),
        path("repositories/<int:repository_id>/file/", search_views.file_page, name="file"),
        path("jobs/<int:job_id>/", search_views.job_page, name="job"),
        path("manage/", search_views.overview_page, name="overview"),
    ],
    "search",
)

account_patterns = (
    [
        path("members/", tenant_views.members_page, name="members"),
        path("members/<int:user_id>/role/", tenant_views.change_role, name="member-role"),
        path("tokens/", tenant_views.tokens_page, name="tokens"),
        path("tokens/<int:token_id>/revoke/", tenant_views.revoke_token, name="token-revoke"),
        path("invite/<str:token>/", tenant_views.accept_invitation_page, name="accept-invite"),
        path("manage/audit/", security_views.audit_page, name="audit"),
    ],
    "accounts",
)

urlpatterns = [
    path("", include(search_patterns)),
    path("", include(account_patterns)),
    path("", include(capacity_urls.tenant_urlpatterns)),
    path("", include(billing_urls.tenant_urlpatterns)),
    path("login/", security_views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("search.api.urls")),
    path(
        "api/v1/schema/",
        SpectacularAPIView.as_view(urlconf="portal.urls_tenant"),
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
