"""Security measurements: sign-in timing for known vs unknown accounts (does timing reveal an account?), and
brute-force handling (200 parallel wrong passwords on one account: how many were judged, how fast refused).

Runs in-process on a fresh SQLite database with the production password-hash profile ("standard").
`make bench-security` also runs the Schemathesis fuzz suite with more examples before this section.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from bench.report import pct, write_section
from fieldops.core.migrate import upgrade
from fieldops.core.security import hash_password
from fieldops.main import create_app
from fieldops.organizations.models import Organization
from fieldops.settings import Settings
from fieldops.users.models import User

ROUNDS = 60
PASSWORD = "Bench-pass-2026!"


def _app(tmp: Path, **overrides: object) -> TestClient:
    url = f"sqlite:///{tmp / 'bench.db'}"
    if not (tmp / "bench.db").exists():
        upgrade(url)
    settings = Settings(database_url=url, data_dir=tmp / "var", secret_key="bench-secret-key-0123456789abcdef",
                        password_hash_profile="standard", seed_demo=False, rate_limit_per_minute=0,
                        _env_file=None, **overrides)  # type: ignore[arg-type]
    return TestClient(create_app(settings), raise_server_exceptions=False)


def _seed(client: TestClient) -> None:
    db = client.app.state.database.session()  # type: ignore[attr-defined]
    org = Organization(name="Bench", slug="bench", timezone="UTC", settings={})
    db.add(org)
    db.flush()
    db.add(User(org_id=org.id, email="known@bench.test", name="Known", role="agent", locale="en",
                password_hash=hash_password(PASSWORD, "standard")))
    db.commit()
    db.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with _app(tmp, login_max_failures=100_000) as client:
            _seed(client)
            timings: dict[str, list[float]] = {"known": [], "unknown": []}
            statuses: Counter[tuple[str, int]] = Counter()
            for i in range(ROUNDS):
                for kind, user in (("known", "known@bench.test"), ("unknown", f"ghost{i}@bench.test")):
                    t0 = time.perf_counter()
                    r = client.post("/api/v1/auth/login", json={"username": user, "password": f"Wrong-{i}!"})
                    timings[kind].append((time.perf_counter() - t0) * 1000)
                    statuses[(kind, r.status_code)] += 1
        with _app(tmp) as client:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                codes = Counter(pool.map(lambda i: client.post(
                    "/api/v1/auth/login", json={"username": "known@bench.test", "password": f"Guess-{i}!"}).status_code,
                    range(200)))
            storm = time.perf_counter() - t0
    known, unknown = timings["known"], timings["unknown"]
    diff = statistics.median(known) - statistics.median(unknown)
    rows = "\n".join(f"| {k} | {pct(v, 50):.1f} | {pct(v, 95):.1f} | {statistics.mean(v):.1f} | "
                     f"{statuses[(k, 401)]}× 401 |" for k, v in (("known", known), ("unknown", unknown)))
    body = f"""## Security: sign-in timing and brute force

Wrong password for a known account vs an unknown one ({ROUNDS} each, alternating, argon2id "standard" profile,
in-process): the unknown account is checked against a dummy hash of the same cost.

| account | p50 ms | p95 ms | mean ms | statuses |
|---|---|---|---|---|
{rows}

Median difference (known − unknown): **{diff:+.1f} ms** ({diff / statistics.median(known) * 100:+.1f} % of a
sign-in).

Brute force: 200 wrong passwords on one account from 16 threads took {storm:.2f} s
({200 / storm:.0f} attempts/s answered); statuses {dict(sorted(codes.items()))} — only the allowed failures were
judged, the rest were refused with 429 before any password check.
"""
    write_section("security", body)
    print(body)


if __name__ == "__main__":
    main()
