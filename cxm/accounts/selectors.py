from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from cxm.accounts.models import ApiToken, Team, User


def user_list(*, search: str = "", include_inactive: bool = True) -> QuerySet[User]:
    qs = User.objects.prefetch_related(
        "groups", Prefetch("teams", queryset=Team.objects.only("id", "name"))
    )
    if search:
        qs = qs.filter(email__icontains=search) | qs.filter(name__icontains=search)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return qs.order_by("name", "id")


def team_list() -> QuerySet[Team]:
    return (
        Team.objects.select_related("lead")
        .prefetch_related(
            Prefetch("members", queryset=User.objects.only("id", "name", "email").order_by("name"))
        )
        .order_by("name")
    )


def api_token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


def api_token_get_for_user(*, user: User, token_id: int) -> ApiToken | None:
    """Object-level check: a user only ever sees and revokes their own tokens."""
    return ApiToken.objects.filter(user=user, pk=token_id).first()
