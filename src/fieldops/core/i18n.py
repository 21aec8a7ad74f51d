"""Message catalogue for zh-CN and en, and Accept-Language negotiation."""

from __future__ import annotations

from typing import Any

SUPPORTED = ("en", "zh-CN")
DEFAULT = "en"

# code -> {lang: template}. Templates use str.format with the error's params.
MESSAGES: dict[str, dict[str, str]] = {
    "not_found": {"en": "{entity} was not found.", "zh-CN": "未找到{entity}。"},
    "unauthorized": {"en": "Please sign in.", "zh-CN": "请先登录。"},
    "invalid_token": {
        "en": "Your session is invalid or has expired. Please sign in again.",
        "zh-CN": "登录状态无效或已过期，请重新登录。",
    },
    "bad_credentials": {
        "en": "The user name or password is wrong.",
        "zh-CN": "用户名或密码错误。",
    },
    "account_disabled": {"en": "This account is disabled.", "zh-CN": "该账号已停用。"},
    "throttled": {
        "en": "Too many attempts. Try again in {retry_after} seconds.",
        "zh-CN": "尝试次数过多，请在 {retry_after} 秒后重试。",
    },
    "rate_limited": {
        "en": "Too many requests. Try again in {retry_after} seconds.",
        "zh-CN": "请求过于频繁，请在 {retry_after} 秒后重试。",
    },
    "forbidden": {
        "en": "Your role ({role}) may not {action}.",
        "zh-CN": "您的角色（{role}）无权执行：{action}。",
    },
    "invalid_transition": {
        "en": "A work order that is {status} cannot be {action}.",
        "zh-CN": "处于“{status}”状态的工单不能执行“{action}”。",
    },
    "conflict": {"en": "{detail}", "zh-CN": "{detail_zh}"},
    "precondition_failed": {
        "en": "This record was changed by someone else (version {current}); reload it and try again.",
        "zh-CN": "该记录已被他人修改（当前版本 {current}），请刷新后重试。",
    },
    "precondition_required": {
        "en": "Send the record's version in an If-Match header (take it from the ETag of a GET).",
        "zh-CN": "请在 If-Match 请求头中携带记录版本（取自 GET 响应的 ETag）。",
    },
    "validation": {
        "en": "Some fields are invalid: {summary}",
        "zh-CN": "部分字段无效：{summary}",
    },
    "invalid": {"en": "{detail}", "zh-CN": "{detail_zh}"},
    "payload_too_large": {
        "en": "The request body is too large (limit {limit}).",
        "zh-CN": "请求内容过大（上限 {limit}）。",
    },
    "idempotency_mismatch": {
        "en": "This Idempotency-Key was already used with a different request.",
        "zh-CN": "该 Idempotency-Key 已用于另一个不同的请求。",
    },
    "unsupported_media": {
        "en": "Files of type {content_type} are not accepted.",
        "zh-CN": "不支持 {content_type} 类型的文件。",
    },
    "unavailable": {
        "en": "The service is temporarily unavailable. Please retry shortly.",
        "zh-CN": "服务暂时不可用，请稍后重试。",
    },
    "internal": {
        "en": "Something went wrong on our side. The error was logged.",
        "zh-CN": "服务器内部错误，已记录。",
    },
    "method_not_allowed": {"en": "This method is not allowed here.", "zh-CN": "此处不允许该请求方法。"},
    "tracking_link_expired": {
        "en": "This tracking link has expired. Ask us for a new one.",
        "zh-CN": "该进度查询链接已过期，请联系我们获取新链接。",
    },
    "tracking_link_invalid": {
        "en": "This tracking link is not valid. Check that you copied the whole link.",
        "zh-CN": "该进度查询链接无效，请确认复制了完整的链接。",
    },
}

TITLES: dict[str, dict[str, str]] = {
    "400": {"en": "Bad request", "zh-CN": "请求错误"},
    "401": {"en": "Unauthorized", "zh-CN": "未登录"},
    "403": {"en": "Forbidden", "zh-CN": "无权限"},
    "404": {"en": "Not found", "zh-CN": "未找到"},
    "405": {"en": "Method not allowed", "zh-CN": "方法不允许"},
    "409": {"en": "Conflict", "zh-CN": "冲突"},
    "412": {"en": "Precondition failed", "zh-CN": "前置条件失败"},
    "413": {"en": "Payload too large", "zh-CN": "请求过大"},
    "415": {"en": "Unsupported media type", "zh-CN": "不支持的媒体类型"},
    "422": {"en": "Invalid input", "zh-CN": "输入无效"},
    "428": {"en": "Precondition required", "zh-CN": "缺少前置条件"},
    "429": {"en": "Too many requests", "zh-CN": "请求过多"},
    "500": {"en": "Internal error", "zh-CN": "内部错误"},
    "503": {"en": "Service unavailable", "zh-CN": "服务不可用"},
}

# Names of things that appear inside messages.
NOUNS: dict[str, dict[str, str]] = {
    "work_order": {"en": "Work order", "zh-CN": "工单"},
    "user": {"en": "User", "zh-CN": "用户"},
    "organization": {"en": "Organisation", "zh-CN": "组织"},
    "territory": {"en": "Territory", "zh-CN": "片区"},
    "customer": {"en": "Customer", "zh-CN": "客户"},
    "site": {"en": "Site", "zh-CN": "站点"},
    "asset": {"en": "Asset", "zh-CN": "设备"},
    "service_type": {"en": "Service type", "zh-CN": "服务类型"},
    "skill": {"en": "Skill", "zh-CN": "技能"},
    "technician": {"en": "Technician", "zh-CN": "技师"},
    "attachment": {"en": "Attachment", "zh-CN": "附件"},
    "certificate": {"en": "Certificate", "zh-CN": "证书"},
    "certificate_type": {"en": "Certificate type", "zh-CN": "证书类型"},
    "shift": {"en": "Shift", "zh-CN": "班次"},
    "leave": {"en": "Leave", "zh-CN": "请假"},
    "sla_calendar": {"en": "SLA calendar", "zh-CN": "SLA 工作日历"},
    "sla_policy": {"en": "SLA policy", "zh-CN": "SLA 策略"},
    "notification": {"en": "Notification", "zh-CN": "通知"},
    "webhook": {"en": "Webhook subscription", "zh-CN": "Webhook 订阅"},
    "tracking_link": {"en": "Tracking link", "zh-CN": "进度查询链接"},
    "resource": {"en": "Resource", "zh-CN": "资源"},
    "comment": {"en": "Comment", "zh-CN": "评论"},
    "geofence": {"en": "Geofence", "zh-CN": "电子围栏"},
    "position": {"en": "Position", "zh-CN": "位置"},
}

# Pydantic error types rendered in Chinese (English uses pydantic's own message).
PYDANTIC_ZH: dict[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "string_too_long": "内容过长",
    "string_too_short": "内容过短",
    "string_type": "应为字符串",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为布尔值",
    "uuid_parsing": "应为 UUID",
    "uuid_type": "应为 UUID",
    "datetime_parsing": "日期时间格式无效",
    "datetime_from_date_parsing": "日期时间格式无效",
    "timezone_aware": "日期时间必须带时区",
    "date_parsing": "日期格式无效",
    "enum": "取值无效",
    "literal_error": "取值无效",
    "less_than_equal": "数值过大",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "greater_than": "数值过小",
    "value_error": "取值无效",
    "json_invalid": "JSON 格式无效",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_long": "条目过多",
    "too_short": "条目过少",
}


def negotiate(accept_language: str | None) -> str:
    """Pick zh-CN or en from an Accept-Language header (q-values honoured)."""
    if not accept_language:
        return DEFAULT
    best: tuple[float, str] = (0.0, DEFAULT)
    for part in accept_language.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, q = piece.partition(";")
        weight = 1.0
        if q.strip().startswith("q="):
            try:
                weight = float(q.strip()[2:])
            except ValueError:
                weight = 0.0
        tag = tag.strip().lower()
        lang = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and weight > best[0]:
            best = (weight, lang)
    return best[1]


def noun(name: str, lang: str) -> str:
    entry = NOUNS.get(name)
    return entry.get(lang, entry["en"]) if entry else name


def render(code: str, lang: str, params: dict[str, Any]) -> str:
    templates = MESSAGES.get(code) or MESSAGES["internal"]
    template = templates.get(lang) or templates["en"]
    values = dict(params)
    if "entity" in values:
        values["entity"] = noun(str(values["entity"]), lang)
    values.setdefault("detail_zh", values.get("detail", ""))
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return templates["en"].format_map({**values, **{k: "" for k in ("detail",)}})


def title(status: int, lang: str) -> str:
    entry = TITLES.get(str(status)) or TITLES["500"]
    return entry.get(lang, entry["en"])
