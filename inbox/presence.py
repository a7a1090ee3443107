"""Who is looking at a conversation right now, and who is typing a reply (collision warnings).

Kept in the shared cache (Redis in production), one small dict per conversation, refreshed by
every live-update poll; an entry older than ``FRESH_SECONDS`` no longer counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

FRESH_SECONDS = 12
TTL_SECONDS = 60


@dataclass(frozen=True)
class Viewer:
    user_id: int
    name: str
    typing: bool


def _key(conversation_id: int) -> str:
    return f"inbox:presence:{conversation_id}"


def presence_touch(*, conversation_id: int, user: Any, typing: bool) -> None:
    key = _key(conversation_id)
    entries: dict[str, Any] = cache.get(key) or {}
    now = time.time()
    entries = {uid: e for uid, e in entries.items() if now - e["at"] < TTL_SECONDS}
    entries[str(user.pk)] = {
        "name": user.get_full_name() or user.email,
        "typing": typing,
        "at": now,
    }
    cache.set(key, entries, TTL_SECONDS)


def presence_others(*, conversation_id: int, user: Any) -> list[Viewer]:
    entries: dict[str, Any] = cache.get(_key(conversation_id)) or {}
    now = time.time()
    return sorted(
        (
            Viewer(user_id=int(uid), name=e["name"], typing=bool(e["typing"]))
            for uid, e in entries.items()
            if uid != str(user.pk) and now - e["at"] < FRESH_SECONDS
        ),
        key=lambda v: v.name,
    )
