from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cxm.core import services
from cxm.core.models import Notification


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated  # login_required
    items = list(Notification.objects.filter(user=user).order_by("-created_at", "-id")[:100])
    services.notifications_mark_read(user=user)
    return render(request, "core/notifications.html", {"items": items})
