from django.urls import path

from journeys.views import customers, integrations, journeys

app_name = "journeys"

urlpatterns = [
    path("customers/", customers.customer_list, name="customer-list"),
    path("customers/new/", customers.customer_create, name="customer-create"),
    path("customers/<int:customer_id>/", customers.customer_detail, name="customer-detail"),
    path("customers/<int:customer_id>/edit/", customers.customer_edit, name="customer-edit"),
    path(
        "customers/<int:customer_id>/timeline/",
        customers.customer_timeline,
        name="customer-timeline",
    ),
    path("customers/<int:customer_id>/merge/", customers.customer_merge, name="customer-merge"),
    path("customers/<int:customer_id>/delete/", customers.customer_delete, name="customer-delete"),
    path("customers/import/", customers.customer_import, name="customer-import"),
    path(
        "customers/import/<int:import_id>/",
        customers.customer_import_detail,
        name="customer-import-detail",
    ),
    path(
        "customers/import/<int:import_id>/errors.csv",
        customers.customer_import_errors_csv,
        name="customer-import-errors",
    ),
    path("journeys/", journeys.journey_list, name="journey-list"),
    path("journeys/<int:journey_id>/", journeys.journey_map, name="journey-map"),
    path("journeys/<int:journey_id>/edit/", journeys.journey_edit, name="journey-edit"),
    path("journeys/<int:journey_id>/stages/", journeys.stage_create, name="stage-create"),
    path("journeys/<int:journey_id>/reorder/", journeys.journey_reorder, name="journey-reorder"),
    path(
        "journeys/<int:journey_id>/touchpoints/new/",
        journeys.touchpoint_edit,
        name="touchpoint-create",
    ),
    path(
        "journeys/<int:journey_id>/touchpoints/<int:touchpoint_id>/",
        journeys.touchpoint_edit,
        name="touchpoint-edit",
    ),
    path("stages/<int:stage_id>/", journeys.stage_edit, name="stage-edit"),
    path("stages/<int:stage_id>/move/", journeys.stage_move, name="stage-move"),
    path("touchpoints/<int:touchpoint_id>/move/", journeys.touchpoint_move, name="touchpoint-move"),
    path("settings/integrations/", integrations.source_list, name="source-list"),
    path(
        "settings/integrations/<int:source_id>/revoke/",
        integrations.source_revoke,
        name="source-revoke",
    ),
]
