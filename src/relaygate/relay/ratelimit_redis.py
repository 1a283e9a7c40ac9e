"""The rate limiter in Redis, for several gateway processes or hosts sharing the limits.

The windows are :mod:`relaygate.relay.ratelimit`'s sub-buckets, one hash per key or user and
dimension (field: bucket index, value: requests or tokens). Admission is one Lua script, one round
trip: it reads the key's and the user's RPM and TPM windows, and counts the request in the RPM
windows only if all of them allow it, so concurrent requests on any number of instances admit
exactly the limit. Time is Redis's own ``TIME``, so hosts with skewed clocks agree on the windows.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from relaygate.errors import unavailable_as_503
from relaygate.relay.ratelimit import BUCKETS, DIMENSIONS, Admission, Reading, bucket_ms, decide
from relaygate.state.snapshot import RateLimits

log = logging.getLogger("relaygate.ratelimit")

# KEYS: key RPM, user RPM, key TPM, user TPM hashes. ARGV: bucket ms, buckets per window, then the
# four limits ('' = unlimited: not read). Returns {allowed, bucket, then used, wait, reset per limit}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local width = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local cur = math.floor(now / width)
local out = {1, cur}
for i = 1, 4 do
  local used, wait, reset = 0, 0, 0
  if ARGV[2 + i] ~= '' then
    local limit = tonumber(ARGV[2 + i])
    local raw = redis.call('HGETALL', KEYS[i])
    local live, amounts = {}, {}
    for j = 1, #raw, 2 do
      local b, v = tonumber(raw[j]), tonumber(raw[j + 1])
      if b + n < cur then
        redis.call('HDEL', KEYS[i], raw[j])
      else
        used = used + v
        live[#live + 1] = b
        amounts[b] = v
      end
    end
    table.sort(live)
    if #live > 0 then reset = (live[#live] + n + 1) * width - now end
    if used >= limit then
      out[1] = 0
      wait = n * width
      local left = used
      for _, b in ipairs(live) do
        left = left - amounts[b]
        if left < limit then
          wait = (b + n + 1) * width - now
          break
        end
      end
    end
  end
  out[#out + 1] = used
  out[#out + 1] = wait
  out[#out + 1] = reset
end
if out[1] == 1 then
  local fresh = (cur + n + 1) * width - now
  for i = 1, 2 do
    if ARGV[2 + i] ~= '' then
      redis.call('HINCRBY', KEYS[i], cur, 1)
      redis.call('PEXPIRE', KEYS[i], (n + 2) * width)
      out[2 + 3 * i] = fresh
    end
  end
end
return out
"""

# KEYS: the RPM hashes the request was counted in. ARGV: its bucket.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, ARGV[1]) or '0') > 0 then redis.call('HINCRBY', key, ARGV[1], -1) end
end
return 1
"""

# KEYS: the TPM hashes. ARGV: bucket ms, buckets per window, tokens.
_ADD_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local width = tonumber(ARGV[1])
local cur = math.floor(now / width)
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, cur, ARGV[3])
  redis.call('PEXPIRE', key, (tonumber(ARGV[2]) + 2) * width)
end
return 1
"""


_REDIS_DOWN = (RedisError, OSError, TimeoutError)  # a limited key must not pass unchecked while Redis is down


class RedisRateLimiter:
    def __init__(self, client: Any, prefix: str, window_s: float) -> None:
        self.r = client
        self.prefix = prefix
        self.window_s = window_s
        self.width = bucket_ms(window_s)
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)
        self._add_tokens = client.register_script(_ADD_TOKENS)

    def _keys(self, limits: RateLimits) -> list[str]:
        p = self.prefix
        return [f"{p}:rl:k:{limits.key_id}:r", f"{p}:rl:u:{limits.user_id}:r",
                f"{p}:rl:k:{limits.key_id}:t", f"{p}:rl:u:{limits.user_id}:t"]

    async def admit(self, limits: RateLimits) -> Admission:
        values = [getattr(limits, attr) for attr, _dim, _who in DIMENSIONS]
        args = [self.width, BUCKETS, *("" if v is None else v for v in values)]
        with unavailable_as_503("rate-limit store", "rate_limit_store_unavailable", _REDIS_DOWN, log):
            out = [int(x) for x in await self._admit(keys=self._keys(limits), args=args)]
        readings: list[Reading | None] = [
            None if v is None else Reading(out[2 + 3 * i], out[3 + 3 * i], out[4 + 3 * i])
            for i, v in enumerate(values)]
        return decide(limits, readings, out[1], self.window_s)

    async def release(self, admission: Admission) -> None:
        limits = admission.limits
        keys = self._keys(limits)
        counted = [keys[i] for i, attr in ((0, "key_rpm"), (1, "user_rpm")) if getattr(limits, attr) is not None]
        try:
            await self._release(keys=counted, args=[admission.bucket])
        except (RedisError, OSError, TimeoutError) as exc:  # the request stays counted: errs on the safe side
            log.warning("could not uncount a refused request: %s", exc)

    async def add_tokens(self, limits: RateLimits, tokens: int) -> None:
        if tokens <= 0:
            return
        keys = self._keys(limits)
        counted = [keys[i] for i, attr in ((2, "key_tpm"), (3, "user_tpm")) if getattr(limits, attr) is not None]
        try:
            await self._add_tokens(keys=counted, args=[self.width, BUCKETS, tokens])
        except (RedisError, OSError, TimeoutError) as exc:  # the bill is already settled; only TPM misses it
            log.warning("could not count %d tokens against the TPM limit: %s", tokens, exc)
