from django.urls import path

from journeys import views

app_name = "journeys"

urlpatterns = [
    path("", views.customer_list, name="customer-list"),
    path("new/", views.customer_create, name="customer-create"),
    path("<int:customer_id>/", views.customer_detail, name="customer-detail"),
    path("<int:customer_id>/edit/", views.customer_edit, name="customer-edit"),
    path("import/", views.customer_import, name="customer-import"),
    path("import/<int:import_id>/", views.customer_import_detail, name="customer-import-detail"),
    path(
        "import/<int:import_id>/errors.csv",
        views.customer_import_errors_csv,
        name="customer-import-errors",
    ),
]
