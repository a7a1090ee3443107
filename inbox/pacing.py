"""Per-sender pacing for SMS and WhatsApp: a messages-per-second limit per number or messaging
service, shared by every worker through Redis.

GCRA (the "generic cell rate algorithm", a token bucket without a refill task): Redis keeps, per
sender, the theoretical arrival time of the next message. Each send reserves the next slot
atomically (one Lua script), so workers never take the same slot, and a worker whose slot is
more than ``MAX_WAIT`` away hands the message back to be sent later instead of holding a
worker. The provider therefore receives at most ``rate`` messages a second and never builds a
backlog. Without Redis (the embedded default, one worker) the same arithmetic runs in-process.
"""

from __future__ import annotations

import threading
import time
from functools import cache

from django.conf import settings

MAX_WAIT = 2.0  # seconds a worker may sleep for its slot; beyond that the task is re-queued

# KEYS[1] the sender's key; ARGV: now (s), interval (s), max wait (s), ttl (s).
# Returns the wait in milliseconds (the slot is reserved), or -(ms until a slot within max wait).
_GCRA = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local start = math.max(tat, now)
local wait = start - now
if wait > max_wait then
  return -math.floor((wait - max_wait) * 1000 + 1)
end
redis.call('SET', KEYS[1], tostring(start + interval), 'EX', tonumber(ARGV[4]))
return math.floor(wait * 1000)
"""


@cache
def _script():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(_GCRA)


_local: dict[str, float] = {}
_local_lock = threading.Lock()


def _reserve_local(key: str, now: float, interval: float) -> float:
    with _local_lock:
        start = max(_local.get(key, 0.0), now)
        wait = start - now
        if wait > MAX_WAIT:
            return -(wait - MAX_WAIT)
        _local[key] = start + interval
        return wait


def reserve(*, sender: str, rate: float) -> float:
    """Reserve the next send slot for ``sender`` at ``rate`` messages a second. Returns the
    seconds to wait before sending (≥ 0), or a negative number: no slot soon, try again in
    that many seconds (nothing reserved)."""
    if rate <= 0:
        return 0.0
    interval = 1.0 / rate
    key = f"cxm:pace:{sender}"
    now = time.time()
    if not settings.REDIS_URL:
        return _reserve_local(key, now, interval)
    ttl = max(60, int(MAX_WAIT + interval * 10))
    result = _script()(keys=[key], args=[repr(now), repr(interval), repr(MAX_WAIT), ttl])
    return int(result) / 1000.0
