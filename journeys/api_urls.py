from django.urls import path

from journeys import api

urlpatterns = [
    path("customers/", api.CustomerListCreateApi.as_view(), name="api-customer-list"),
    path("customers/bulk/", api.CustomerBulkUpsertApi.as_view(), name="api-customer-bulk"),
    path("customers/<int:pk>/", api.CustomerDetailApi.as_view(), name="api-customer-detail"),
    path("customers/<int:pk>/timeline/", api.TimelineApi.as_view(), name="api-customer-timeline"),
    path("interactions/", api.InteractionIngestApi.as_view(), name="api-interactions"),
    path("touchpoints/", api.TouchpointListApi.as_view(), name="api-touchpoints"),
]
