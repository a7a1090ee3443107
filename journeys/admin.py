from django.contrib import admin

from journeys.models import Customer, CustomerImport


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "external_id", "language", "created_at")
    search_fields = ("search",)
    show_full_result_count = False  # no COUNT(*) over millions of rows
    readonly_fields = ("search", "created_at", "updated_at")


@admin.register(CustomerImport)
class CustomerImportAdmin(admin.ModelAdmin):
    list_display = (
        "original_name",
        "status",
        "rows_seen",
        "rows_created",
        "rows_updated",
        "rows_failed",
        "created_at",
    )
    readonly_fields = [f.name for f in CustomerImport._meta.fields]
