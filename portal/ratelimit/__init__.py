"""Rate limits kept in Redis, shared by every web replica.

``limiter`` holds the atomic counter, ``policies`` the named limits and their rates,
``throttles`` the DRF adapters and ``middleware`` the adapter for server-rendered forms.
"""

from portal.ratelimit.exceptions import RateLimited, RateLimitUnavailable
from portal.ratelimit.limiter import Decision, hit, refund, reset
from portal.ratelimit.policies import Policy, Rate, get_policy, parse_rate

__all__ = [
    "Decision",
    "Policy",
    "Rate",
    "RateLimitUnavailable",
    "RateLimited",
    "get_policy",
    "hit",
    "parse_rate",
    "refund",
    "reset",
]
