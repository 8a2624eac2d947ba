from django.urls import path

from search.api import views

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="api-search"),
    path("repositories/", views.RepositoryListView.as_view(), name="api-repositories"),
    path(
        "repositories/<int:repository_id>/",
        views.RepositoryDetailView.as_view(),
        name="api-repository",
    ),
    path(
        "repositories/<int:repository_id>/index/",
        views.RepositoryIndexView.as_view(),
        name="api-repository-index",
    ),
    path(
        "repositories/<int:repository_id>/sync/",
        views.RepositorySyncView.as_view(),
        name="api-repository-sync",
    ),
    path("jobs/<int:job_id>/", views.JobDetailView.as_view(), name="api-job"),
]
