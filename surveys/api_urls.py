from django.urls import path

from surveys import api

urlpatterns = [
    path("surveys/", api.SurveyListApi.as_view(), name="api-survey-list"),
    path("surveys/<int:pk>/", api.SurveyDetailApi.as_view(), name="api-survey-detail"),
    path(
        "surveys/<int:pk>/invitations/",
        api.InvitationCreateApi.as_view(),
        name="api-invitation-create",
    ),
    path("responses/", api.ResponseListApi.as_view(), name="api-response-list"),
    path("responses/export/", api.ResponseExportApi.as_view(), name="api-response-export"),
    path("responses/<int:pk>/", api.ResponseDetailApi.as_view(), name="api-response-detail"),
    path("answers/", api.AnswerListApi.as_view(), name="api-answer-list"),
]
