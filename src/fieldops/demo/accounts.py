"""The demo logins (also listed in the README). One password for all of them."""

from __future__ import annotations

DEMO_PASSWORD = "Demo-pass-2026!"
DOMAIN = "demo.fieldops.local"

STAFF = [
    ("admin", "admin", "Alex Admin", "+16175550100"),
    ("supervisor", "supervisor", "Sam Supervisor 主管", "+16175550101"),
    ("dispatcher", "dispatcher", "Dana Dispatcher", "+16175550102"),
    ("agent", "agent", "Ava Agent 客服", "+16175550103"),
    ("finance", "finance", "Frank Finance", "+16175550104"),
]


def tech_phone(n: int) -> str:
    return f"+1617555{200 + n:04d}"


def customer_phone(n: int) -> str:
    return f"+1617555{300 + n:04d}"


def demo_logins(short: bool = False) -> list[tuple[str, str, str]]:
    """(role, e-mail, phone) for every demo login; `short` abbreviates the numbered ranges."""
    rows = [(role, f"{local}@{DOMAIN}", phone) for local, role, _name, phone in STAFF]
    if short:
        rows.append(("technician", f"tech1@{DOMAIN} … tech20@{DOMAIN}", f"{tech_phone(1)} … {tech_phone(20)}"))
        rows.append(("customer", f"customer1@{DOMAIN} … customer50@{DOMAIN}",
                     f"{customer_phone(1)} … {customer_phone(50)}"))
        return rows
    rows += [("technician", f"tech{n}@{DOMAIN}", tech_phone(n)) for n in range(1, 21)]
    rows += [("customer", f"customer{n}@{DOMAIN}", customer_phone(n)) for n in range(1, 51)]
    return rows
