"""Pure rules of work-order comments: who posts with which visibility, and @mention parsing."""

from __future__ import annotations

import re

INTERNAL = "internal"
CUSTOMER = "customer"
VISIBILITIES = (INTERNAL, CUSTOMER)
# Staff who may see the order, the assigned technician and the order's customer may post; finance only reads.
POSTERS = frozenset({"admin", "supervisor", "dispatcher", "agent", "technician", "customer", "system"})
EXCERPT = 140
MAX_MENTIONS = 20

_AT = re.compile(r"(?<![\w@.+-])@")
_TOKEN = re.compile(r"[^\s,;:!?()\[\]{}<>\"'，。；：！？、]+")
_TRAIL = ".,;:!?)]}>\"'，。；：！？、"


class CommentRuleError(Exception):
    def __init__(self, en: str, zh: str, field: str) -> None:
        super().__init__(en)
        self.en, self.zh, self.field = en, zh, field


def may_post(role: str) -> bool:
    return role in POSTERS


def visibility_for(role: str, requested: str | None) -> str:
    """A customer's comment is always visible to the customer; staff and technicians default to internal
    (nothing reaches the customer by accident)."""
    if role == "customer":
        if requested == INTERNAL:
            raise CommentRuleError("Customers' comments are always visible to the service team and the customer.",
                                   "客户的留言对服务团队和客户始终可见，不能设为内部备注。", "visibility")
        return CUSTOMER
    return requested or INTERNAL


def customer_may_read(visibility: str) -> bool:
    return visibility == CUSTOMER


def excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def mention_spans(text: str, max_words: int = 4) -> list[list[str]]:
    """For each "@" that starts a mention: the lower-cased candidates it may name, longest first —
    a login (e-mail or phone: the token after @) and display names of 1..max_words words."""
    spans: list[list[str]] = []
    for m in _AT.finditer(text):
        rest = text[m.end(): m.end() + 200]
        cands: list[str] = []
        words = rest.split()[:max_words]
        for n in range(len(words), 0, -1):
            cand = " ".join(words[:n]).rstrip(_TRAIL).lower()
            if cand and cand not in cands:
                cands.append(cand)
        token = _TOKEN.match(rest)
        if token:
            login = token.group(0).rstrip(_TRAIL).lower()
            if login and login not in cands:
                cands.insert(0, login)
        if cands:
            spans.append(cands)
        if len(spans) >= MAX_MENTIONS:
            break
    return spans


def phone_key(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"tel:{digits}" if len(digits) >= 5 else ""


def resolve_mentions(spans: list[list[str]], index: dict[str, str]) -> list[str]:
    """Map each span to the first (longest) candidate that names someone; `index` maps lower-cased names,
    e-mails and phone keys to a user key. Duplicates are dropped, order kept."""
    out: list[str] = []
    for cands in spans:
        for cand in cands:
            who = index.get(cand) or (index.get(phone_key(cand)) if phone_key(cand) else None)
            if who is not None:
                if who not in out:
                    out.append(who)
                break
    return out


def all_candidates(spans: list[list[str]]) -> list[str]:
    seen: list[str] = []
    for cands in spans:
        for c in cands:
            if c not in seen:
                seen.append(c)
    return seen
