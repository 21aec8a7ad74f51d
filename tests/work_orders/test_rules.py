from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fieldops.work_orders import rules
from fieldops.work_orders.rules import ACTIONS, Facts, RuleError, Status

ROLES = ["admin", "supervisor", "dispatcher", "agent", "technician", "customer", "finance", "system"]
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)

facts_strategy = st.builds(
    Facts,
    status=st.sampled_from(list(Status)),
    role=st.sampled_from(ROLES),
    is_assignee=st.booleans(),
    transfer_pending=st.booleans(),
    status_before_hold=st.sampled_from([None, Status.assigned, Status.accepted, Status.in_progress]),
    terminal_since=st.sampled_from([None, NOW - timedelta(days=1), NOW - timedelta(days=90)]),
    now=st.just(NOW),
    reopen_window=st.just(timedelta(days=30)),
)


@given(facts_strategy, st.sampled_from(sorted(ACTIONS)))
def test_allowed_actions_agree_with_decide(facts: Facts, action: str) -> None:
    allowed = action in rules.allowed_actions(facts)
    try:
        rules.decide(action, facts, reason="because")
        decided = True
    except RuleError:
        decided = False
    assert allowed == decided


@given(facts_strategy, st.sampled_from(sorted(ACTIONS)))
def test_terminal_states_only_reopen(facts: Facts, action: str) -> None:
    if facts.status in rules.TERMINAL and action != "reopen":
        assert action not in rules.allowed_actions(facts)


@given(facts_strategy)
def test_finance_never_changes_anything(facts: Facts) -> None:
    assert rules.allowed_actions(Facts(**{**facts.__dict__, "role": "finance"})) == []


def test_reason_required_where_declared() -> None:
    facts = Facts(status=Status.assigned, role="technician", is_assignee=True)
    try:
        rules.decide("reject", facts, reason="  ")
    except RuleError as err:
        assert err.kind == "invalid"
    else:
        raise AssertionError("reject without a reason was allowed")


def test_reopen_window() -> None:
    late = Facts(status=Status.closed, role="dispatcher", terminal_since=NOW - timedelta(days=31), now=NOW,
                 reopen_window=timedelta(days=30))
    assert "reopen" not in rules.allowed_actions(late)


def test_customer_cancel_only_before_work_starts() -> None:
    for status in (Status.en_route, Status.on_site, Status.in_progress):
        assert "cancel" not in rules.allowed_actions(Facts(status=status, role="customer"))
    assert "cancel" in rules.allowed_actions(Facts(status=Status.assigned, role="customer"))


def test_neutralize_cell() -> None:
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert rules.neutralize_cell(risky) == "'" + risky
    assert rules.neutralize_cell("plain") == "plain"
    assert rules.neutralize_cell(5) == 5


def test_number_format() -> None:
    assert rules.format_number("20261123", 42) == "WO-20261123-0042"
    assert rules.format_number("20261123", 12345) == "WO-20261123-12345"
