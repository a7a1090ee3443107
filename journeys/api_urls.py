from django.urls import path

from journeys import api

urlpatterns = [
    path("customers/", api.CustomerListCreateApi.as_view(), name="api-customer-list"),
    path("customers/bulk/", api.CustomerBulkUpsertApi.as_view(), name="api-customer-bulk"),
    path("customers/<int:pk>/", api.CustomerDetailApi.as_view(), name="api-customer-detail"),
]
