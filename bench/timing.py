"""What the page benchmarks share: signing in through the login form, timing one address in-process
(warm-ups, then `repeat` requests) and nearest-rank percentiles. Each benchmark prints its p95s as
ratios to the trivial endpoint (GET /healthz) timed the same way in the same run."""
from __future__ import annotations

import math
import re
import time

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank percentile: the first sample at or above p% of them."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def sign_in(client, email: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": TOKEN.search(page).group(1)})
    assert response.status_code == 302, f"signing in as {email} answered {response.status_code}"


def time_requests(client, path: str, repeat: int, expect: int = 200, warmups: int = 3):
    """(p50 ms, p95 ms, the last response) of GET path, `repeat` times after `warmups`."""
    for _ in range(warmups):
        client.get(path)
    samples, response = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == expect, (path, response.status_code)
    return percentile(samples, 50), percentile(samples, 95), response
