"""The follow-up queues and their rules (mounted at /followups/)."""

from django.urls import path

from metrics import followup_views as views

app_name = "followups"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:followup_id>/", views.followup_detail, name="followup-detail"),
    path("<int:followup_id>/action/", views.followup_action, name="followup-action"),
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/new/", views.rule_edit, name="rule-create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule-edit"),
    path("rules/<int:rule_id>/move/", views.rule_move, name="rule-move"),
    path("rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path("root-causes/", views.root_cause_list, name="rootcause-list"),
    path("root-causes/<int:cause_id>/", views.root_cause_edit, name="rootcause-edit"),
]
