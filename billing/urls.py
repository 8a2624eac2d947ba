"""URL patterns of the costs pages; the portal URLconfs include them."""

from django.urls import path

from billing import views

tenant_urlpatterns = (
    [
        path("manage/costs/", views.tenant_costs, name="costs"),
        path("manage/costs/showback.csv", views.tenant_showback_csv, name="showback-csv"),
        path(
            "manage/costs/recommendations.csv",
            views.tenant_recommendations_csv,
            name="recommendations-csv",
        ),
    ],
    "billing",
)

operator_urlpatterns = (
    [
        path("operator/costs/", views.operator_costs, name="costs"),
        path("operator/costs/showback.csv", views.operator_showback_csv, name="showback-csv"),
        path(
            "operator/costs/recommendations.csv",
            views.operator_recommendations_csv,
            name="recommendations-csv",
        ),
        path("operator/price-book/", views.price_book_page, name="price-book"),
    ],
    "billing",
)
