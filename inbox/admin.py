from django.contrib import admin

from inbox.models import CannedResponse, ChannelAccount, Holiday, Label, SlaPolicy, SlaTarget


class SlaTargetInline(admin.TabularInline):
    model = SlaTarget
    extra = 4


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "team",
        "business_hours_only",
        "timezone",
        "day_start",
        "day_end",
        "workdays",
    )
    inlines = [SlaTargetInline]


admin.site.register(Holiday)
admin.site.register(CannedResponse)
admin.site.register(Label)
admin.site.register(ChannelAccount)
