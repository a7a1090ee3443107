from django.urls import path

from surveys.views import builder, distributions, respond

app_name = "surveys"

urlpatterns = [
    path("surveys/", builder.survey_list, name="survey-list"),
    path("surveys/<int:survey_id>/", builder.survey_detail, name="survey-detail"),
    path("surveys/<int:survey_id>/settings/", builder.survey_settings, name="survey-settings"),
    path("surveys/<int:survey_id>/status/", builder.survey_status, name="survey-status"),
    path("surveys/<int:survey_id>/duplicate/", builder.survey_duplicate, name="survey-duplicate"),
    path("surveys/<int:survey_id>/preview/", builder.survey_preview, name="survey-preview"),
    path("surveys/<int:survey_id>/theme.css", builder.survey_theme, name="survey-theme"),
    path("surveys/<int:survey_id>/logo", builder.survey_logo, name="survey-logo"),
    path("surveys/<int:survey_id>/links/", builder.invitation_create, name="invitation-create"),
    path("surveys/<int:survey_id>/questions/new/", builder.question_edit, name="question-new"),
    path(
        "surveys/<int:survey_id>/questions/<int:question_id>/",
        builder.question_edit,
        name="question-edit",
    ),
    path(
        "surveys/<int:survey_id>/questions/<int:question_id>/delete/",
        builder.question_delete,
        name="question-delete",
    ),
    path(
        "surveys/<int:survey_id>/questions/<int:question_id>/move/",
        builder.question_move,
        name="question-move",
    ),
    path("surveys/<int:survey_id>/responses/", builder.response_list, name="response-list"),
    path("surveys/<int:survey_id>/responses.csv", builder.response_export, name="response-export"),
    path("surveys/responses/<int:response_id>/", builder.response_detail, name="response-detail"),
    path("s/<str:token>/", respond.respond, name="respond"),
    path("s/<str:token>/answer/", respond.respond_answer, name="respond-answer"),
    path("s/<str:token>/theme.css", respond.respond_theme, name="respond-theme"),
    path("s/<str:token>/logo", respond.respond_logo, name="respond-logo"),
    path("s/<str:token>/unsubscribe/", respond.unsubscribe, name="unsubscribe"),
    path(
        "surveys/<int:survey_id>/triggers/",
        distributions.trigger_rule_create,
        name="trigger-create",
    ),
    path(
        "surveys/<int:survey_id>/triggers/<int:rule_id>/delete/",
        distributions.trigger_rule_delete,
        name="trigger-delete",
    ),
    path(
        "surveys/<int:survey_id>/distributions/new/",
        distributions.distribution_new,
        name="distribution-new",
    ),
    path(
        "surveys/distributions/<int:distribution_id>/",
        distributions.distribution_detail,
        name="distribution-detail",
    ),
    path(
        "surveys/distributions/<int:distribution_id>/preview/",
        distributions.distribution_preview,
        name="distribution-preview",
    ),
    path(
        "surveys/distributions/<int:distribution_id>/preview.html",
        distributions.distribution_preview_html,
        name="distribution-preview-html",
    ),
    path(
        "surveys/distributions/<int:distribution_id>/progress/",
        distributions.distribution_progress,
        name="distribution-progress",
    ),
    path(
        "surveys/distributions/<int:distribution_id>/status/",
        distributions.distribution_status,
        name="distribution-status",
    ),
]
