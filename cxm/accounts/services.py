"""Every write to users, teams and API tokens."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from cxm.accounts.models import ApiToken, Role, Team, User
from cxm.errors import ApplicationError, Conflict
from cxm.jobs import Job, enqueue_on_commit

logger = logging.getLogger(__name__)


def _set_roles(user: User, roles: list[str]) -> None:
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise ApplicationError(_("Unknown role."), field="roles")
    user.groups.set(Group.objects.filter(name__in=roles))
    transaction.on_commit(lambda: user_permissions_forget(user_id=user.pk))
    user.__dict__.pop("roles", None)  # drop the cached_property


def _email_taken(email: str, exclude_pk: int | None = None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def user_create(
    *, email: str, name: str, roles: list[str], password: str | None = None, language: str = "en"
) -> User:
    """Create a user directly (demo data, management commands). The UI invites instead."""
    if _email_taken(email):
        raise Conflict(_("A user with this email address already exists."), field="email")
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, name=name, password=password, language=language
        )
        _set_roles(user, roles)
    return user


def user_invite(
    *, email: str, name: str, roles: list[str], language: str, invited_by: User
) -> User:
    """Create an account without a password and email the person a link to choose one."""
    if _email_taken(email):
        raise Conflict(_("A user with this email address already exists."), field="email")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, name=name, password=None, language=language, invited_by=invited_by
            )
            _set_roles(user, roles)
            enqueue_on_commit(Job.ACCOUNTS_SEND_PASSWORD_LINK, user_id=user.pk, kind="invitation")
    except IntegrityError as exc:  # a concurrent invite of the same address
        raise Conflict(_("A user with this email address already exists."), field="email") from exc
    logger.info("accounts.user.invited", extra={"user_id": user.pk, "by": invited_by.pk})
    return user


def set_password_link(user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("accounts:password-reset-confirm", kwargs={"uidb64": uid, "token": token})
    return f"{base_url}{path}"


def password_link_request(*, email: str) -> None:
    """ "Forgot password": mail a reset link if an active account has this address.

    The answer to the person is the same either way, so the form does not reveal who has an
    account; invited users who lost their invitation can use it too.
    """
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is not None:
        enqueue_on_commit(Job.ACCOUNTS_SEND_PASSWORD_LINK, user_id=user.pk, kind="reset")


def password_link_send(*, user_id: int, kind: str, base_url: str) -> None:
    """Email an invitation or a reset link in the user's language. Safe to run twice (it resends)."""
    from django.core.mail import EmailMultiAlternatives

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return  # deactivated meanwhile
    if kind == "invitation" and user.has_usable_password():
        return  # already accepted
    with translation.override(user.language):
        context = {
            "user": user,
            "link": set_password_link(user, base_url),
            "inviter": user.invited_by,
            "base_url": base_url,
        }
        if kind == "invitation":
            subject = _("You are invited to cxm")
        else:
            subject = _("Choose a new cxm password")
        body = render_to_string(f"accounts/email/{kind}.txt", context)
    EmailMultiAlternatives(subject=subject, body=body, to=[user.email]).send()
    logger.info("accounts.password_link.sent", extra={"user_id": user.pk, "kind": kind})


def user_update(*, user: User, name: str, roles: list[str], language: str, by: User) -> User:
    if user.pk == by.pk and Role.ADMIN.value not in roles and not by.is_superuser:
        raise ApplicationError(_("You cannot remove your own admin role."), field="roles")
    with transaction.atomic():
        user.name = name
        user.language = language
        user.save(update_fields=["name", "language"])
        _set_roles(user, roles)
    logger.info("accounts.user.updated", extra={"user_id": user.pk, "by": by.pk})
    return user


def user_set_active(*, user: User, active: bool, by: User) -> User:
    """Deactivating signs the user out everywhere and stops their API tokens at once."""
    if user.pk == by.pk and not active:
        raise ApplicationError(_("You cannot deactivate yourself."))
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            _sessions_delete_for(user)
    logger.info(
        "accounts.user.active_changed", extra={"user_id": user.pk, "active": active, "by": by.pk}
    )
    return user


def _sessions_delete_for(user: User) -> None:
    from django.contrib.sessions.models import Session

    # Sessions are signed blobs keyed by session key; decoding each is the only way to find a
    # user's. Fine for the database session store at this scale (a few thousand live sessions).
    stale = [
        s.session_key
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(s.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]
    Session.objects.filter(session_key__in=stale).delete()


def user_set_language(*, user: User, language: str) -> User:
    user.language = language
    user.save(update_fields=["language"])
    return user


_UNCHANGED: Any = object()


def team_save(
    *,
    team: Team | None,
    name: str,
    description: str,
    members: list[User],
    lead: User | None = _UNCHANGED,
) -> Team:
    """Create or edit a team; ``lead`` left out keeps the current lead."""
    name = name.strip()
    clash = Team.objects.filter(name__iexact=name)
    if team is not None and team.pk:
        clash = clash.exclude(pk=team.pk)
    if clash.exists():
        raise Conflict(_("A team with this name already exists."), field="name")
    with transaction.atomic():
        team = team or Team()
        team.name = name
        team.description = description
        if lead is not _UNCHANGED:
            team.lead = lead
        team.save()
        team.members.set(members)
    return team


def team_delete(*, team: Team) -> None:
    team.delete()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def api_token_create(*, user: User, name: str) -> IssuedToken:
    """Issue a token. The secret is returned this once and never stored."""
    secret = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip(), digest=ApiToken.digest_of(secret), hint=secret[:10]
    )
    logger.info("accounts.api_token.created", extra={"token_id": token.pk, "user_id": user.pk})
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        logger.info("accounts.api_token.revoked", extra={"token_id": token.pk})
    return token


def sessions_purge_expired() -> int:
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


# ------------------------------------------------------------------------------------------------
# Permission sets, cached: every API request checks them, and they change only with the roles.
# ------------------------------------------------------------------------------------------------
PERMISSIONS_TTL = 60


def _permissions_key(user_id: int) -> str:
    return f"accounts:perms:{user_id}"


def user_permissions(*, user: User) -> frozenset[str]:
    """The user's permissions ("app.codename"), from the shared cache for up to a minute."""
    from django.core.cache import cache

    if not user.is_active:
        return frozenset()
    key = _permissions_key(user.pk)
    cached = cache.get(key)
    if cached is None:
        cached = frozenset(user.get_all_permissions())
        cache.set(key, cached, PERMISSIONS_TTL)
    return frozenset(cached)


def user_permissions_forget(*, user_id: int) -> None:
    from django.core.cache import cache

    cache.delete(_permissions_key(user_id))
