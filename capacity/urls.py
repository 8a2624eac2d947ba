"""URL patterns of the capacity dashboards; the portal URLconfs include them."""

from django.urls import path

from capacity import api, views

tenant_urlpatterns = (
    [
        path("manage/performance/", views.tenant_performance, name="performance"),
        path(
            "manage/performance/data.json",
            views.tenant_performance_data,
            name="performance-data",
        ),
        path(
            "manage/performance/relevance.json",
            views.tenant_relevance_data,
            name="relevance-data",
        ),
        path("search/click/", views.search_click, name="search-click"),
        path(
            "api/v1/search/feedback/",
            api.SearchFeedbackView.as_view(),
            name="api-search-feedback",
        ),
        path("manage/capacity/", views.tenant_plan, name="plan"),
        path("manage/capacity/plan.csv", views.tenant_plan_csv, name="plan-csv"),
        path("manage/capacity/plan.json", views.tenant_plan_json, name="plan-json"),
        path("manage/capacity/forecast.json", views.tenant_forecast_data, name="forecast-data"),
    ],
    "capacity",
)

operator_urlpatterns = (
    [
        path("operator/performance/", views.operator_performance, name="performance"),
        path(
            "operator/performance/data.json",
            views.operator_performance_data,
            name="performance-data",
        ),
        path(
            "operator/performance/relevance.json",
            views.operator_relevance_data,
            name="relevance-data",
        ),
        path("operator/capacity/", views.operator_plan, name="plan"),
        path("operator/capacity/plan.csv", views.operator_plan_csv, name="plan-csv"),
        path("operator/capacity/plan.json", views.operator_plan_json, name="plan-json"),
        path("operator/capacity/forecast.json", views.operator_forecast_data, name="forecast-data"),
        path("metrics", views.metrics, name="metrics"),
    ],
    "capacity",
)
