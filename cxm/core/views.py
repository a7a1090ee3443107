from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cxm.accounts.models import User
from cxm.core import services
from cxm.core.models import Notification


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # login_required
    items = list(Notification.objects.filter(user=user).order_by("-created_at", "-id")[:100])
    services.notifications_mark_read(user=user)
    return render(request, "core/notifications.html", {"items": items})
