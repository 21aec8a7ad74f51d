"""Message templates in zh-CN and en (pure data). Keys are `<group>.<name>`; params are str.format fields.

Missing params render as an empty string, so a caller that omits an optional field never breaks a send.
"""

from __future__ import annotations

# key -> lang -> (subject, body)
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    # ---- SLA (called by the sla module) ------------------------------------------------------------
    "sla.warning": {
        "en": ("SLA warning: {number} {target_en} due in {minutes} min",
               "Work order {number} \"{title}\": the {target_en} deadline is {deadline} ({minutes} minutes left). "
               "Escalation level {level}."),
        "zh-CN": ("SLA 预警：工单 {number} {target_zh}即将超时（剩余 {minutes} 分钟）",
                  "工单 {number}「{title}」的{target_zh}时限为 {deadline}，剩余 {minutes} 分钟。升级级别：{level}。"),
    },
    "sla.breached": {
        "en": ("SLA breached: {number} {target_en} overdue by {minutes} min",
               "Work order {number} \"{title}\" missed its {target_en} deadline {deadline} by {minutes} minutes. "
               "Escalation level {level}."),
        "zh-CN": ("SLA 超时：工单 {number} {target_zh}已超时 {minutes} 分钟",
                  "工单 {number}「{title}」的{target_zh}时限 {deadline} 已超时 {minutes} 分钟。升级级别：{level}。"),
    },
    "sla.escalated": {
        "en": ("SLA escalated to level {level}: {number}",
               "Work order {number} \"{title}\" was escalated to level {level}: the {target_en} deadline {deadline} "
               "is {minutes} minutes overdue."),
        "zh-CN": ("SLA 升级至 {level} 级：工单 {number}",
                  "工单 {number}「{title}」已升级至 {level} 级：{target_zh}时限 {deadline} 已超时 {minutes} 分钟。"),
    },
    # ---- comments ----------------------------------------------------------------------------------
    "comment.mention": {
        "en": ("{author} mentioned you on {number}", "{author} mentioned you on work order {number}: \"{excerpt}\""),
        "zh-CN": ("{author} 在工单 {number} 中提到了您", "{author} 在工单 {number} 的评论中提到了您：「{excerpt}」"),
    },
    # ---- work orders: the customer -----------------------------------------------------------------
    "work_order.customer_assigned": {
        "en": ("Your service request {number} has been scheduled",
               "Your request {number} ({service}) has been assigned to our technician {technician}. "
               "Appointment: {window}. Track it here: {link}"),
        "zh-CN": ("您的服务工单 {number} 已派单",
                  "您的工单 {number}（{service}）已派给技术员 {technician}。预约时间：{window}。查看进度：{link}"),
    },
    "work_order.customer_accepted": {
        "en": ("{technician} accepted your request {number}",
               "Technician {technician} accepted your request {number}. Appointment: {window}. Track it: {link}"),
        "zh-CN": ("技术员 {technician} 已接单（{number}）",
                  "技术员 {technician} 已接受您的工单 {number}。预约时间：{window}。查看进度：{link}"),
    },
    "work_order.customer_en_route": {
        "en": ("{technician} is on the way ({number})",
               "Technician {technician} is on the way to you for {number}. Estimated arrival: {eta}. "
               "Track it: {link}"),
        "zh-CN": ("技术员 {technician} 已出发（{number}）",
                  "技术员 {technician} 已出发前往处理工单 {number}，预计到达时间：{eta}。查看进度：{link}"),
    },
    "work_order.customer_arrived": {
        "en": ("{technician} has arrived ({number})",
               "Technician {technician} has arrived on site for {number}. Track it: {link}"),
        "zh-CN": ("技术员 {technician} 已到场（{number}）",
                  "技术员 {technician} 已到达现场处理工单 {number}。查看进度：{link}"),
    },
    "work_order.customer_completed": {
        "en": ("Work on {number} is complete - please confirm",
               "Technician {technician} has completed the work on {number}. Please review and confirm it: {link}"),
        "zh-CN": ("工单 {number} 已完工，请验收",
                  "技术员 {technician} 已完成工单 {number} 的服务，请查看并确认验收：{link}"),
    },
    # ---- work orders: the technician ---------------------------------------------------------------
    "work_order.tech_assigned": {
        "en": ("New work order {number}: {title}",
               "You were assigned {number} \"{title}\" ({priority}) at {address}. Appointment: {window}."),
        "zh-CN": ("新工单 {number}：{title}",
                  "您被指派了工单 {number}「{title}」（{priority}），地址：{address}，预约时间：{window}。"),
    },
    "work_order.tech_changed": {
        "en": ("Work order {number} changed", "Work order {number} \"{title}\" changed: {change}."),
        "zh-CN": ("工单 {number} 有变更", "工单 {number}「{title}」有变更：{change_zh}。"),
    },
    "work_order.tech_cancelled": {
        "en": ("Work order {number} was cancelled", "Work order {number} \"{title}\" was cancelled. Reason: {reason}"),
        "zh-CN": ("工单 {number} 已取消", "工单 {number}「{title}」已取消。原因：{reason}"),
    },
    # ---- work orders: the dispatcher / supervisor --------------------------------------------------
    "work_order.desk_rejected": {
        "en": ("{technician} rejected {number}", "Technician {technician} rejected {number} \"{title}\". "
               "Reason: {reason}"),
        "zh-CN": ("技术员 {technician} 拒单：{number}",
                  "技术员 {technician} 拒绝了工单 {number}「{title}」。原因：{reason}"),
    },
    "work_order.desk_exception": {
        "en": ("Exception on {number}: {kind_en}", "{technician} reported an exception on {number} \"{title}\": "
               "{kind_en}. {detail}"),
        "zh-CN": ("工单 {number} 异常：{kind_zh}",
                  "{technician} 在工单 {number}「{title}」上报告异常：{kind_zh}。{detail}"),
    },
    "work_order.desk_dispatch_failed": {
        "en": ("Dispatch failed for {number}", "No technician could be found for {number} \"{title}\". {reason}"),
        "zh-CN": ("工单 {number} 派单失败", "工单 {number}「{title}」未找到合适的技术员。{reason}"),
    },
    # ---- tracking (called by the tracking module) -------------------------------------------------
    "tracking.arrived_prompt": {
        "en": ("You have arrived at {number} - please check in",
               "You are at the site of work order {number} \"{title}\" ({address}). Please check in."),
        "zh-CN": ("您已到达工单 {number} 现场，请签到",
                  "您已到达工单 {number}「{title}」的现场（{address}），请签到。"),
    },
    "tracking.timeout": {
        "en": ("Timeout on {number}: {kind_en}", "Work order {number} \"{title}\": {kind_en}."),
        "zh-CN": ("工单 {number} 超时：{kind_zh}", "工单 {number}「{title}」：{kind_zh}。"),
    },
    # ---- misc --------------------------------------------------------------------------------------
    "notification.test": {
        "en": ("fieldops test message", "This is a test message from fieldops ({channel})."),
        "zh-CN": ("fieldops 测试消息", "这是一条来自 fieldops 的测试消息（{channel}）。"),
    },
}

TARGETS = {"response": ("response", "响应"), "arrival": ("arrival", "到场"), "resolution": ("resolution", "解决")}

EXCEPTION_KINDS = {
    "material_shortage": ("material shortage", "材料短缺"),
    "equipment_fault": ("equipment fault", "设备故障"),
    "equipment_failure": ("equipment fault", "设备故障"),
    "customer_absent": ("customer absent", "客户不在"),
    "other": ("other", "其他"),
}

# Templates that ignore quiet hours (someone must act now).
URGENT = frozenset({"sla.breached", "sla.escalated", "work_order.desk_exception", "work_order.desk_dispatch_failed"})
