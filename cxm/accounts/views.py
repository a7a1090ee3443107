"""Sign-in, profile, API tokens, and the admin pages for users and teams."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_ratelimit.core import get_usage, is_ratelimited

from cxm.accounts import selectors, services
from cxm.accounts.context_processors import nav_for
from cxm.accounts.forms import (
    ApiTokenForm,
    PasswordResetRequestForm,
    ProfileForm,
    SignInForm,
    TeamForm,
    UserEditForm,
    UserInviteForm,
)
from cxm.accounts.models import Team, User
from cxm.errors import ApplicationError


def _attach_error(form: Any, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


# ------------------------------------------------------------------------------------------------
# Sign-in and passwords
# ------------------------------------------------------------------------------------------------
class SignInView(auth_views.LoginView):
    """Django's login view, rate-limited per account and per client IP (failures only)."""

    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def _limits(self, request: HttpRequest, *, increment: bool) -> str | None:
        """Count a failure (``increment``), or say whether the failures so far use up a limit."""
        account = (request.POST.get("username") or "").strip().lower()
        checks: list[tuple[str, Any, str, str]] = [
            (
                "login-ip",
                "ip",
                settings.LOGIN_RATE_PER_IP,
                _(
                    "Too many failed sign-in attempts from your network. Wait a few minutes and try again."
                ),
            ),
        ]
        if account:
            checks.insert(
                0,
                (
                    "login-account",
                    lambda _g, _r: account,
                    settings.LOGIN_RATE_PER_ACCOUNT,
                    _(
                        "Too many failed sign-in attempts for this account. Wait a few minutes and try again, or reset your password."
                    ),
                ),
            )
        for group, key, rate, message in checks:
            usage = get_usage(request, group=group, key=key, rate=rate, increment=increment)
            if usage is not None and not increment and usage["count"] >= usage["limit"]:
                return message
        return None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        blocked = self._limits(request, increment=False)
        if blocked:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, blocked)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        # Count this failure; if it was the last one allowed, say so now.
        self._limits(self.request, increment=True)
        return super().form_invalid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing the password signs out every other session (Django's session auth hash)."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(
            self.request, _("Your password was changed. Other sessions were signed out.")
        )
        return response


def password_reset(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if is_ratelimited(request, group="password-reset", key="ip", rate="10/h", increment=True):
            form = PasswordResetRequestForm(request.POST)
            form.is_valid()
            form.add_error(None, _("Too many requests. Wait a few minutes and try again."))
            return render(request, "accounts/password_reset.html", {"form": form}, status=429)
        form = PasswordResetRequestForm(request.POST)
        if form.is_valid():
            services.password_link_request(email=form.cleaned_data["email"])
            return redirect("accounts:password-reset-done")
    else:
        form = PasswordResetRequestForm()
    return render(request, "accounts/password_reset.html", {"form": form})


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")


# ------------------------------------------------------------------------------------------------
# Home, profile and API tokens (every signed-in user)
# ------------------------------------------------------------------------------------------------
@login_required
def home(request: HttpRequest) -> HttpResponse:
    items = nav_for(request.user)
    if items:
        return HttpResponseRedirect(items[0]["url"])
    return redirect("accounts:profile")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ProfileForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your profile was saved."))
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        issued = services.api_token_create(user=user, name=form.cleaned_data["name"])
        # Shown on the next page only (then dropped from the session), so a reload shows no secret.
        request.session["issued_api_token"] = {"name": issued.token.name, "secret": issued.secret}
        return redirect("accounts:api-tokens")
    return render(
        request,
        "accounts/api_tokens.html",
        {
            "form": form,
            "issued": request.session.pop("issued_api_token", None),
            "tokens": selectors.api_token_list_for_user(user=user),
        },
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)  # type: ignore[arg-type]
    if token is None:
        raise Http404
    services.api_token_revoke(token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("accounts:api-tokens")


# ------------------------------------------------------------------------------------------------
# Users and teams (admins)
# ------------------------------------------------------------------------------------------------
@permission_required("accounts.manage_users", raise_exception=True)
def user_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    return render(
        request,
        "accounts/user_list.html",
        {"users": selectors.user_list(search=search), "q": search},
    )


@permission_required("accounts.manage_users", raise_exception=True)
def user_invite(request: HttpRequest) -> HttpResponse:
    form = UserInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_invite(invited_by=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ApplicationError as exc:
            _attach_error(form, exc)
        else:
            messages.success(
                request,
                _("%(email)s was invited. They will get an email to choose a password.")
                % {"email": user.email},
            )
            return redirect("accounts:user-list")
    return render(request, "accounts/user_form.html", {"form": form, "title": _("Invite a user")})


@permission_required("accounts.manage_users", raise_exception=True)
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    initial = {"name": target.name, "language": target.language, "roles": sorted(target.roles)}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(user=target, by=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ApplicationError as exc:
            _attach_error(form, exc)
        else:
            messages.success(request, _("%(name)s was saved.") % {"name": target.name})
            return redirect("accounts:user-list")
    return render(
        request, "accounts/user_form.html", {"form": form, "target": target, "title": target.name}
    )


@permission_required("accounts.manage_users", raise_exception=True)
@require_POST
def user_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    active = request.POST.get("active") == "1"
    try:
        services.user_set_active(user=target, active=active, by=request.user)  # type: ignore[arg-type]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if active:
            messages.success(request, _("%(name)s can sign in again.") % {"name": target.name})
        else:
            messages.success(
                request, _("%(name)s was deactivated and signed out.") % {"name": target.name}
            )
    return redirect("accounts:user-list")


@permission_required("accounts.view_team", raise_exception=True)
def team_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/team_list.html", {"teams": selectors.team_list()})


@permission_required("accounts.change_team", raise_exception=True)
def team_edit(request: HttpRequest, team_id: int | None = None) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id) if team_id else None
    form = TeamForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_save(team=team, **form.cleaned_data)
        except ApplicationError as exc:
            _attach_error(form, exc)
        else:
            messages.success(request, _("Team “%(name)s” was saved.") % {"name": team.name})
            return redirect("accounts:team-list")
    title = team.name if team else _("New team")
    return render(request, "accounts/team_form.html", {"form": form, "team": team, "title": title})


@permission_required("accounts.delete_team", raise_exception=True)
@require_POST
def team_delete(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id)
    services.team_delete(team=team)
    messages.success(request, _("Team “%(name)s” was deleted.") % {"name": team.name})
    return redirect(reverse("accounts:team-list"))
