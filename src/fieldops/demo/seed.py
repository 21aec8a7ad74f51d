"""The demo organisation: Boston Field Services, with a realistic day of work orders in every state.

`seed_demo` is what `fieldops seed` and the first `fieldops run` call. Reference data (territories,
users, catalogues, technicians, customers) is inserted directly; the work orders go through the real
`work_orders.service` use cases, acting as the real seeded people, so their audit timelines, outbox
events, attachments and numbers are exactly what the running system would have produced.

Everything is drawn from `random.Random(2026)` and laid out backwards from "now" (nothing happens in
the future), so two runs produce the same data relative to the moment they ran.
"""

from __future__ import annotations

import base64
import csv
import logging
import math
import random
import shutil
import struct
import time as _time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shapely import prepare
from shapely.geometry import Point, shape
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fieldops.core.audit import AuditLog, purging
from fieldops.core.auth import Principal, Role
from fieldops.core.clock import Clock
from fieldops.core.db import Base, Database
from fieldops.core.events import OutboxEvent, ProcessedEvent
from fieldops.core.security import hash_password
from fieldops.core.web import Ctx, IdempotencyRecord
from fieldops.customers.models import Asset, Customer, Site
from fieldops.demo.accounts import DEMO_PASSWORD, DOMAIN, STAFF, customer_phone, tech_phone
from fieldops.models_registry import load_all
from fieldops.organizations.models import Organization, Territory
from fieldops.service_types import service as service_types
from fieldops.service_types.models import CertificateType, ServiceType, Skill
from fieldops.service_types.rules import EffectiveServiceType
from fieldops.settings import Settings
from fieldops.technicians import rules as tech_rules
from fieldops.technicians.models import (
    Certificate,
    Leave,
    Shift,
    Technician,
    TechnicianSkill,
    TechnicianTerritory,
)
from fieldops.users.models import User, UserTerritory
from fieldops.work_orders import service as work_orders
from fieldops.work_orders.models import WorkOrder
from fieldops.work_orders.schemas import (
    CompleteBody,
    ConfirmBody,
    DepartBody,
    HoldBody,
    PartLine,
    PositionBody,
    Rating,
    ReasonBody,
    WorkOrderCreate,
    WorkOrderUpdate,
)

log = logging.getLogger("fieldops.demo")

SLUG = "demo"
ORG_NAME = "Boston Field Services 波士顿现场服务"
TZ_NAME = "America/New_York"
SEED = 2026
SITES_CSV = Path(__file__).with_name("boston_sites.csv")

# ---- territories (片区): three rectangles split at 71.094° W and 42.347° N ----------------------

WEST_LNG, NORTH_LAT = -71.094, 42.347
BBOX = (-71.20, 42.22, -70.98, 42.40)  # min lng, min lat, max lng, max lat: all of Boston


def _rect(min_lng: float, min_lat: float, max_lng: float, max_lat: float) -> dict[str, Any]:
    ring = [[min_lng, min_lat], [max_lng, min_lat], [max_lng, max_lat], [min_lng, max_lat], [min_lng, min_lat]]
    return {"type": "Polygon", "coordinates": [ring]}


TERRITORIES = [
    # code, name, polygon ([lng, lat] order, as GeoJSON requires), scoped to the supervisor
    ("NORTH", "North & Downtown 北区及市中心",
     _rect(WEST_LNG, NORTH_LAT, BBOX[2], BBOX[3]), True),
    ("SOUTH", "South & Dorchester 南区及多切斯特",
     _rect(WEST_LNG, BBOX[1], BBOX[2], NORTH_LAT), True),
    ("WEST", "West & Roxbury–JP 西区及罗克斯伯里–牙买加平原",
     _rect(BBOX[0], BBOX[1], WEST_LNG, BBOX[3]), False),
]

# ---- catalogues ---------------------------------------------------------------------------------

SKILLS = [
    ("electrical", "Electrical", "电气"),
    ("hvac", "HVAC", "暖通空调"),
    ("plumbing", "Plumbing", "水暖管道"),
    ("appliance", "Appliance repair", "家电维修"),
    ("street_lighting", "Street lighting", "路灯照明"),
    ("road_repair", "Road repair", "道路养护"),
    ("carpentry", "Carpentry & locks", "木工及门锁"),
    ("signage", "Signs & markings", "标志标牌"),
]

CERTIFICATE_TYPES = [
    ("electrician_license", "Electrician license", "电工证"),
    ("refrigerant_handling", "Refrigerant handling (EPA 608)", "制冷剂操作证"),
    ("working_at_height", "Working at height", "高处作业证"),
    ("confined_space", "Confined space entry", "有限空间作业证"),
]


def _item(key: str, label: str, label_zh: str, kind: str, required: bool = True,
          options: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"key": key, "label": label, "label_zh": label_zh, "type": kind, "required": required}
    if options:
        item["options"] = options
    return item


def _photo(key: str, label: str, label_zh: str) -> dict[str, str]:
    return {"key": key, "label": label, "label_zh": label_zh}


CLEAN = _item("area_left_clean", "Work area left clean", "作业区域已清理干净", "bool")
TRAFFIC_CONTROL = _item("traffic_control", "Traffic control set up (cones, signs)", "已设置交通管控（锥桶、标志）",
                        "bool")
BEFORE = _photo("before", "Before work", "施工前")
AFTER = _photo("after", "After work", "施工后")


@dataclass(frozen=True)
class TypeSpec:
    code: str
    parent: str | None
    name: str
    name_zh: str
    duration: int
    priority: str
    skills: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    checklist: list[dict[str, Any]] = field(default_factory=list)
    photos: list[dict[str, str]] = field(default_factory=list)
    description: str | None = None


SERVICE_TYPES = [
    TypeSpec("APPLIANCE", None, "Appliance repair", "家电维修", 60, "P2",
             skills=[{"skill": "appliance", "min_level": 1}],
             checklist=[_item("model_serial", "Model and serial number recorded", "已记录型号和序列号", "text"),
                        _item("test_run", "Test run after repair OK", "维修后试机正常", "bool")],
             description="Household and light-commercial appliances."),
    TypeSpec("AC_REPAIR", "APPLIANCE", "AC repair", "空调维修", 90, "P2",
             skills=[{"skill": "hvac", "min_level": 2}], certificates=["refrigerant_handling"],
             checklist=[_item("suction_pressure_psi", "Suction pressure (psi)", "低压压力 (psi)", "number"),
                        _item("supply_air_temp_f", "Supply air temperature (°F)", "出风温度 (°F)", "number"),
                        _item("filters_cleaned", "Filters cleaned", "已清洗滤网", "bool"),
                        _item("refrigerant_added_oz", "Refrigerant added (oz)", "补充冷媒 (oz)", "number",
                              required=False)],
             photos=[_photo("nameplate", "Outdoor unit nameplate", "室外机铭牌"), AFTER],
             description="Split, window and central air conditioners; refrigerant work needs EPA 608."),
    # Inherits skills, certificate, checklist and photos from AC repair; only its name and urgency differ.
    TypeSpec("AC_NOT_COOLING", "AC_REPAIR", "AC not cooling", "空调不制冷", 90, "P1",
             description="The unit runs but does not cool (blows warm air, iced coil, outdoor fan stopped)."),
    TypeSpec("WASHER_REPAIR", "APPLIANCE", "Washing machine repair", "洗衣机维修", 60, "P3",
             skills=[{"skill": "appliance", "min_level": 2}],
             checklist=[_item("error_code", "Error code shown", "显示的故障代码", "text", required=False),
                        _item("drain_pump_checked", "Drain pump and filter checked", "已检查排水泵和过滤器", "bool"),
                        _item("leak_test", "No leaks during a full cycle", "完整洗涤周期无渗漏", "bool")]),
    TypeSpec("FRIDGE_REPAIR", "APPLIANCE", "Refrigerator repair", "冰箱维修", 75, "P2",
             skills=[{"skill": "appliance", "min_level": 2}],
             checklist=[_item("fridge_temp_f", "Fresh-food temperature after 30 min (°F)", "30 分钟后冷藏室温度 (°F)",
                              "number"),
                        _item("freezer_temp_f", "Freezer temperature after 30 min (°F)", "30 分钟后冷冻室温度 (°F)",
                              "number"),
                        _item("door_gasket", "Door gasket", "门封条", "choice",
                              options=["OK", "Replaced", "Needs replacement"])]),
    TypeSpec("PROPERTY", None, "Property maintenance", "物业报修", 60, "P2",
             checklist=[CLEAN], photos=[BEFORE, AFTER],
             description="Repairs in buildings we maintain for owners, condominium trusts and agencies."),
    TypeSpec("PLUMBING_LEAK", "PROPERTY", "Plumbing leak", "水管漏水", 60, "P1",
             skills=[{"skill": "plumbing", "min_level": 2}],
             checklist=[_item("water_shut_off", "Water shut off before work", "施工前已关闭水阀", "bool"),
                        _item("leak_source", "Leak source", "漏点位置", "choice",
                              options=["Pipe joint", "Valve", "Fixture", "Drain", "Water heater"]),
                        _item("pressure_test", "Pressure test passed", "试压合格", "bool"), CLEAN]),
    TypeSpec("ELECTRICAL_FAULT", "PROPERTY", "Electrical fault", "电路故障", 60, "P1",
             skills=[{"skill": "electrical", "min_level": 2}], certificates=["electrician_license"],
             checklist=[_item("circuit_isolated", "Circuit isolated and locked out", "已断电并挂牌上锁", "bool"),
                        _item("insulation_mohm", "Insulation resistance (MΩ)", "绝缘电阻 (MΩ)", "number"),
                        _item("breaker_rating", "Breaker rating", "断路器额定电流", "choice",
                              options=["15 A", "20 A", "30 A", "40 A"]), CLEAN]),
    TypeSpec("HEATING_FAILURE", "PROPERTY", "Heating failure", "供暖故障", 90, "P1",
             skills=[{"skill": "hvac", "min_level": 2}, {"skill": "plumbing", "min_level": 1}],
             checklist=[_item("boiler_pressure_psi", "Boiler pressure (psi)", "锅炉压力 (psi)", "number"),
                        _item("room_temp_f", "Room temperature after 1 h (°F)", "1 小时后室温 (°F)", "number"),
                        _item("co_ppm", "CO reading at the appliance (ppm)", "设备处一氧化碳读数 (ppm)", "number"),
                        _item("radiators_bled", "Radiators bled", "暖气片已排气", "bool", required=False), CLEAN],
             description="Boston 311: Heat - Excessive / Insufficient. No heat, too little heat, boiler lockout."),
    TypeSpec("DOOR_LOCK", "PROPERTY", "Door lock repair", "门锁维修", 45, "P3",
             skills=[{"skill": "carpentry", "min_level": 1}],
             checklist=[_item("lock_cycled", "Lock cycled 10 times without sticking", "开关锁 10 次无卡滞", "bool"),
                        _item("keys_handed_over", "Keys handed over", "交付钥匙数量", "number", required=False),
                        CLEAN]),
    TypeSpec("MUNICIPAL", None, "Municipal facilities", "市政设施", 60, "P2",
             checklist=[TRAFFIC_CONTROL], photos=[BEFORE, AFTER],
             description="Street furniture we maintain under contract for the City of Boston (BOS:311 requests)."),
    TypeSpec("STREET_LIGHT", "MUNICIPAL", "Street light outage", "路灯不亮", 60, "P2",
             skills=[{"skill": "street_lighting", "min_level": 2}, {"skill": "electrical", "min_level": 1}],
             certificates=["working_at_height"],
             checklist=[_item("pole_number", "Pole number", "灯杆编号", "text"),
                        _item("fault_cause", "Fault cause", "故障原因", "choice",
                              options=["LED module", "Photocell", "Wiring", "Fuse", "Knocked-down pole"]),
                        _item("lamp_type", "Lamp type", "灯具类型", "choice", options=["LED", "HPS", "Metal halide"]),
                        _item("light_on_after", "Light on after repair (photocell covered)",
                              "修复后亮灯（遮挡光控测试）", "bool"), TRAFFIC_CONTROL],
             description="Boston 311: Street Light Outages."),
    TypeSpec("POTHOLE", "MUNICIPAL", "Pothole repair", "路面坑洞", 45, "P2",
             skills=[{"skill": "road_repair", "min_level": 1}],
             checklist=[_item("area_sqft", "Patched area (sq ft)", "修补面积 (平方英尺)", "number"),
                        _item("material", "Material", "材料", "choice",
                              options=["Cold patch", "Hot mix asphalt", "Infrared repair"]), TRAFFIC_CONTROL],
             description="Boston 311: Pothole Repair (Internal)."),
    TypeSpec("TRAFFIC_SIGNAL", "MUNICIPAL", "Traffic signal repair", "交通信号灯维修", 120, "P0",
             skills=[{"skill": "electrical", "min_level": 3}, {"skill": "street_lighting", "min_level": 2}],
             certificates=["electrician_license", "working_at_height"],
             checklist=[_item("intersection", "Intersection", "路口", "text"),
                        _item("controller_checked", "Controller cabinet inspected", "已检查信号控制柜", "bool"),
                        _item("timing_verified", "Signal timing verified", "已核对信号配时", "bool"), TRAFFIC_CONTROL],
             description="Boston 311: Traffic Signal Repair."),
    TypeSpec("SIGN_REPAIR", "MUNICIPAL", "Sign repair", "路牌维修", 45, "P3",
             skills=[{"skill": "signage", "min_level": 1}],
             checklist=[_item("sign_type", "Sign type", "标志类型", "choice",
                              options=["Street name", "Stop", "No parking", "Speed limit", "Other"]),
                        _item("reinstalled", "Sign reinstalled and level", "已重新安装并扶正", "bool"),
                        TRAFFIC_CONTROL],
             description="Boston 311: Sign Repair / Missing Sign."),
]
MUNICIPAL_TYPES = {"STREET_LIGHT", "POTHOLE", "TRAFFIC_SIGNAL", "SIGN_REPAIR"}

# ---- technicians (T01..T20, homes at addresses 51..70 of boston_sites.csv) ----------------------


@dataclass(frozen=True)
class TechSpec:
    name: str
    locale: str
    level: int
    skills: dict[str, int]
    certificates: list[tuple[str, str]]  # (type code, "valid" | "expiring" | "expired:YYYY-MM-DD")
    shift: str  # "std" Mon–Fri 08–17, "early" Mon–Fri 07–16, "tue_sat" Tue–Sat 08–17
    duty: str = "on_duty"
    senior: bool = False  # covers every territory


TECHS = [
    TechSpec("Mike O'Brien", "en", 5, {"electrical": 4, "street_lighting": 3, "signage": 1},
             [("electrician_license", "valid"), ("working_at_height", "valid")], "early", senior=True),
    TechSpec("王建国 Wang Jianguo", "zh-CN", 4, {"hvac": 4, "plumbing": 3}, [("refrigerant_handling", "valid")], "std"),
    TechSpec("Carlos Rivera", "en", 4, {"plumbing": 4, "carpentry": 2}, [("confined_space", "valid")], "std"),
    TechSpec("李娜 Li Na", "zh-CN", 3, {"appliance": 4, "hvac": 2}, [("refrigerant_handling", "valid")], "std"),
    TechSpec("Patrick Walsh", "en", 3, {"road_repair": 3, "signage": 2}, [], "tue_sat"),
    TechSpec("张伟 Zhang Wei", "zh-CN", 3, {"hvac": 3, "electrical": 3},
             [("refrigerant_handling", "valid"), ("electrician_license", "expired:2026-03-31")], "std"),
    TechSpec("Kevin Nguyen", "en", 3, {"street_lighting": 3, "electrical": 2, "signage": 2},
             [("electrician_license", "valid"), ("working_at_height", "expiring")], "std"),
    TechSpec("Sarah Murphy", "en", 2, {"appliance": 3, "electrical": 2},
             [("electrician_license", "expired:2026-06-30")], "std", duty="on_break"),
    TechSpec("陈明 Chen Ming", "zh-CN", 3, {"hvac": 3, "plumbing": 2},
             [("refrigerant_handling", "valid"), ("confined_space", "valid")], "std"),
    TechSpec("Jamal Washington", "en", 3, {"road_repair": 4, "street_lighting": 2, "electrical": 1},
             [("working_at_height", "valid")], "early"),
    TechSpec("刘洋 Liu Yang", "zh-CN", 4, {"electrical": 3, "street_lighting": 2},
             [("electrician_license", "valid"), ("working_at_height", "valid")], "std", senior=True),
    TechSpec("Emily Chen", "en", 2, {"appliance": 3, "carpentry": 2}, [], "std"),
    TechSpec("Daniel Sullivan", "en", 3, {"plumbing": 3, "hvac": 2}, [("confined_space", "valid")], "std",
             duty="on_leave"),
    TechSpec("赵磊 Zhao Lei", "zh-CN", 2, {"carpentry": 3, "signage": 2, "road_repair": 1}, [], "tue_sat"),
    TechSpec("Luis Ortiz", "en", 3, {"hvac": 3, "appliance": 2}, [("refrigerant_handling", "valid")], "std"),
    TechSpec("黄丽 Huang Li", "zh-CN", 2, {"electrical": 2, "appliance": 2},
             [("electrician_license", "expired:2026-09-15")], "std"),
    TechSpec("Brian Kelly", "en", 5, {"electrical": 3, "street_lighting": 3},
             [("electrician_license", "valid"), ("working_at_height", "valid")], "early", senior=True),
    TechSpec("周强 Zhou Qiang", "zh-CN", 1, {"road_repair": 2, "signage": 2}, [], "early"),
    TechSpec("Rachel Goldberg", "en", 2, {"plumbing": 2, "carpentry": 3}, [], "std", duty="off_duty"),
    TechSpec("孙浩 Sun Hao", "zh-CN", 4, {"hvac": 2, "electrical": 2, "plumbing": 1},
             [("refrigerant_handling", "valid"), ("electrician_license", "valid")], "std"),
]

# ---- customers (C001..C050, one site each at addresses 1..50 of boston_sites.csv) ---------------


@dataclass(frozen=True)
class AssetSpec:
    category: str  # which service types it belongs to (see ASSET_FOR)
    name: str
    manufacturer: str
    model: str
    serial_prefix: str
    installed_year: int


@dataclass(frozen=True)
class CustomerSpec:
    kind: str  # person | company
    name: str
    contact: str | None  # the person we deal with at a company
    locale: str
    tier: str
    site_name: str
    access_notes: str | None = None
    asset: AssetSpec | None = None
    municipal: bool = False


def _a(category: str, name: str, manufacturer: str, model: str, prefix: str, year: int) -> AssetSpec:
    return AssetSpec(category, name, manufacturer, model, prefix, year)


def _p(name: str, locale: str = "en", tier: str = "standard", asset: AssetSpec | None = None,
       notes: str | None = None) -> CustomerSpec:
    return CustomerSpec("person", name, None, locale, tier, "住宅 Home" if locale == "zh-CN" else "Home", notes, asset)


def _c(name: str, contact: str, site: str, tier: str = "standard", asset: AssetSpec | None = None,
       notes: str | None = None, municipal: bool = False) -> CustomerSpec:
    return CustomerSpec("company", name, contact, "en", tier, site, notes, asset, municipal)


CUSTOMERS = [
    _c("Back Bay Property Management", "Laura Bennett", "795 Boylston St building", "vip",
       _a("boiler", "Weil-McLain CGa-5 gas boiler", "Weil-McLain", "CGa-5", "WM", 2016),
       "Key box at the concierge desk; service elevator in the rear."),
    _p("Maria Santos", asset=_a("washer", "Bosch WAT28400 washer", "Bosch", "WAT28400UC", "FD", 2019)),
    _c("Charlestown Navy Yard Lofts Condominium Trust", "Kevin Doyle", "Medford St lofts",
       notes="Ring the superintendent at unit 1A."),
    _c("Boston Housing Authority – Mary Ellen McCormack", "Denise Carter", "McCormack development, Bldg 19", "key",
       _a("boiler", "Burnham Series 2 oil boiler", "Burnham", "V8H5", "BU", 2012),
       "Maintenance office opens 7:30; bring ID."),
    _p("陈伟 Chen Wei", "zh-CN", "vip", _a("hvac", "Daikin FTXS35 split AC", "Daikin", "FTXS35LVJU", "E0", 2020),
       "Parking in the rear alley. 后巷可停车。"),
    _p("Thomas Fitzgerald"),
    _c("Boston Public Works – West Roxbury Yard", "Mark Flaherty", "West Roxbury district yard", municipal=True),
    _c("Beacon Street Condominium Association", "Olivia Hartmann", "325 Beacon St", "vip",
       _a("water_heater", "Rheem 50-gal gas water heater", "Rheem", "XG50T06EC36U1", "Q1", 2018),
       "Buzz #1 for the building manager."),
    _p("李静 Li Jing", "zh-CN"),
    _p("Giuseppe Russo", asset=_a("fridge", "LG LRFVS3006S refrigerator", "LG", "LRFVS3006S", "LG", 2021),
       notes="Side door; friendly dog in the yard."),
    _c("Boston Public Works – Street Lighting", "Paul Rizzo", "Charlestown lighting district",
       asset=_a("street_light", "Street light pole CH-0412 (LED cobra head)", "Cooper Lighting", "OVH-LED-100",
                "CH", 2015), municipal=True),
    _p("Angela Brooks", asset=_a("washer", "Whirlpool WTW5000DW washer", "Whirlpool", "WTW5000DW", "C9", 2017)),
    _c("Neighborhood Association of the Back Bay", "Margaret Lowell", "Marlborough St", municipal=True),
    _c("Eastie Auto Body & Tire", "Luis Ramirez", "Body shop", notes="Enter through the bay doors."),
    _p("Lan Nguyen", asset=_a("hvac", "Mitsubishi MSZ-GL12NA mini-split", "Mitsubishi Electric", "MSZ-GL12NA",
                              "8Y", 2019)),
    _c("Fenway Community Center", "Joanne Park", "Community center",
       asset=_a("boiler", "Lochinvar Knight boiler", "Lochinvar", "KBN151", "LV", 2014)),
    _c("Downtown Boston BID", "Rachel Adams", "Downtown Crossing", municipal=True),
    _p("Robert Kowalski", asset=_a("boiler", "Weil-McLain Ultra-105 boiler", "Weil-McLain", "Ultra-105", "WU", 2011)),
    _p("王芳 Wang Fang", "zh-CN",
       asset=_a("hvac", "Fujitsu ASU12RLF1 mini-split", "Fujitsu", "ASU12RLF1", "F1", 2022)),
    _c("West Roxbury Main Streets", "Erin McCarthy", "Centre St district", municipal=True),
    _p("Francesca Ricci",
       asset=_a("fridge", "Samsung RF28R7351SG refrigerator", "Samsung", "RF28R7351SG", "0B", 2020)),
    _c("City of Boston – Property Management Dept.", "Gregory Shaw", "Boston City Hall", "key",
       notes="Loading dock on Congress St; check in with security."),
    _c("Tremont Street Dental Group", "Dr. Susan Lee", "Dental office, 3rd floor", "vip",
       _a("hvac", "Daikin FTXS50 split AC (operatory 2)", "Daikin", "FTXS50LVJU", "E1", 2018)),
    _c("Meridian Street Apartments LLC", "Tony Marino", "47 Meridian St",
       asset=_a("boiler", "Burnham ESC5 gas boiler", "Burnham", "ESC5", "BE", 2013),
       notes="Boiler room key with the superintendent (apt 1)."),
    _p("Keisha Johnson", asset=_a("washer", "GE GTW465ASNWW washer", "GE Appliances", "GTW465ASNWW", "GE", 2016)),
    _p("赵敏 Zhao Min", "zh-CN",
       asset=_a("fridge", "Haier HRF15N3AGS refrigerator", "Haier", "HRF15N3AGS", "HA", 2021)),
    _c("Beacon Hill Books & Café", "Hannah Price", "Café kitchen",
       asset=_a("fridge", "True T-49 reach-in refrigerator", "True Manufacturing", "T-49", "TR", 2015),
       notes="Service before 10 am, please."),
    _p("Ana Martínez", asset=_a("washer", "Maytag MVW6230HW washer", "Maytag", "MVW6230HW", "MY", 2020)),
    _p("David Goldstein", asset=_a("hvac", "Carrier 24ACC6 central AC", "Carrier", "24ACC636A003", "CA", 2017)),
    _c("Beacon Hill Civic Association", "Charles Whitmore", "Phillips St", municipal=True),
    _p("Siobhan Kelly",
       asset=_a("fridge", "Frigidaire FFTR1835VW refrigerator", "Frigidaire", "FFTR1835VW", "BA", 2019)),
    _p("周杰 Zhou Jie", "zh-CN", asset=_a("hvac", "Midea U window AC", "Midea", "MAW08V1QWT", "MD", 2023)),
    _p("Marcus Brown", asset=_a("boiler", "Peerless 211A gas boiler", "Peerless", "211A-04", "PB", 2010)),
    _c("Beacon Street Realty Partners", "Nathan Ellis", "94 Beacon St"),
    _p("Patricia O'Neil", asset=_a("washer", "Bosch 300 Series washer", "Bosch", "WAT28400UC", "FD", 2018)),
    _c("East Boston Main Streets", "Sofia Alvarez", "Geneva St", municipal=True),
    _p("黄志明 Huang Zhiming", "zh-CN"),
    _c("Mission Hill Laundromat", "Victor Chen", "Laundromat",
       asset=_a("washer", "Speed Queen SC40 washer-extractor", "Speed Queen", "SC40", "SQ", 2019)),
    _p("Jennifer Walsh",
       asset=_a("fridge", "Whirlpool WRF555SDFZ refrigerator", "Whirlpool", "WRF555SDFZ", "K4", 2018)),
    _c("Mattapan Community Health Center", "Dr. Andre Joseph", "Health center", "vip",
       _a("hvac", "Trane Voyager rooftop unit", "Trane", "YSC060G3", "TV", 2016),
       "Use the staff entrance on the left."),
    _p("Michael Doherty", asset=_a("boiler", "Navien NCB-240E combi boiler", "Navien", "NCB-240E", "NV", 2019)),
    _c("Rivermoor Industrial Park LLC", "Greg Hanlon", "Rivermoor St park"),
    _p("杨磊 Yang Lei", "zh-CN", asset=_a("hvac", "Daikin FTX12NMVJU mini-split", "Daikin", "FTX12NMVJU", "E2", 2021)),
    _c("Hyde Park Main Streets", "Brenda Wallace", "Chestnut St", municipal=True),
    _c("JP Centre/South Main Streets", "Owen Gallagher", "Hyde Park Ave at Forest Hills", municipal=True),
    _p("Linda Tran", asset=_a("washer", "Electrolux ELFW7637AT washer", "Electrolux", "ELFW7637AT", "EX", 2022)),
    _c("Boston Transportation Department", "Vincent Lo", "City Hall, Room 721", "key",
       _a("signal", "Signal controller – Mass Ave & Columbus Ave", "Econolite", "Cobalt ATC", "EC", 2017),
       municipal=True),
    _c("Ruggles Station Retail Partners", "Tanya Brooks", "Tremont St retail"),
    _p("孙丽 Sun Li", "zh-CN", asset=_a("fridge", "Midea MRQ22D7AST refrigerator", "Midea", "MRQ22D7AST", "MR", 2022)),
    _p("Karen Sullivan", asset=_a("boiler", "Buderus GB142 boiler", "Buderus", "GB142-45", "BD", 2012)),
]
VIP_PREFERS = {5: 4, 1: 3, 40: 20}  # customer number -> preferred technician number
BLOCKS = {29: 12}  # customer number -> blocked technician number

ASSET_FOR = {
    "AC_REPAIR": "hvac", "AC_NOT_COOLING": "hvac", "WASHER_REPAIR": "washer", "FRIDGE_REPAIR": "fridge",
    "HEATING_FAILURE": "boiler", "PLUMBING_LEAK": "water_heater", "STREET_LIGHT": "street_light",
    "TRAFFIC_SIGNAL": "signal",
}

# ---- the day's work orders: (customer number, service type, status it ends in, flow) -----------

JOBS: list[tuple[int, str, str, str | None]] = [
    (11, "STREET_LIGHT", "closed", None),
    (4, "HEATING_FAILURE", "closed", "rework"),
    (5, "AC_NOT_COOLING", "closed", None),
    (38, "WASHER_REPAIR", "closed", None),
    (17, "POTHOLE", "closed", None),
    (22, "ELECTRICAL_FAULT", "closed", None),
    (8, "PLUMBING_LEAK", "completed", None),
    (47, "TRAFFIC_SIGNAL", "completed", None),
    (21, "FRIDGE_REPAIR", "completed", None),
    (36, "SIGN_REPAIR", "completed", None),
    (9, "PLUMBING_LEAK", "awaiting_acceptance", None),
    (27, "FRIDGE_REPAIR", "awaiting_acceptance", None),
    (13, "STREET_LIGHT", "awaiting_acceptance", None),
    (29, "DOOR_LOCK", "awaiting_acceptance", None),
    (23, "AC_NOT_COOLING", "in_progress", None),
    (24, "HEATING_FAILURE", "in_progress", None),
    (7, "POTHOLE", "in_progress", None),
    (40, "ELECTRICAL_FAULT", "in_progress", None),
    (12, "WASHER_REPAIR", "in_progress", None),
    (1, "DOOR_LOCK", "on_site", None),
    (30, "STREET_LIGHT", "on_site", None),
    (19, "AC_REPAIR", "on_site", None),
    (33, "HEATING_FAILURE", "en_route", None),
    (26, "FRIDGE_REPAIR", "en_route", None),
    (44, "SIGN_REPAIR", "en_route", None),
    (34, "PLUMBING_LEAK", "en_route", None),
    (10, "AC_REPAIR", "accepted", None),
    (45, "STREET_LIGHT", "accepted", None),
    (3, "ELECTRICAL_FAULT", "accepted", None),
    (42, "POTHOLE", "accepted", None),
    (15, "AC_NOT_COOLING", "assigned", None),
    (37, "DOOR_LOCK", "assigned", "reject"),
    (48, "SIGN_REPAIR", "assigned", None),
    (46, "WASHER_REPAIR", "assigned", None),
    (40, "AC_REPAIR", "on_hold", "waiting_parts"),
    (25, "WASHER_REPAIR", "on_hold", "waiting_customer"),
    (47, "TRAFFIC_SIGNAL", "on_hold", "police_detail"),
    (32, "AC_NOT_COOLING", "new", None),
    (50, "HEATING_FAILURE", "new", None),
    (20, "STREET_LIGHT", "new", None),
    (31, "FRIDGE_REPAIR", "new", None),
    (14, "ELECTRICAL_FAULT", "new", None),
    (2, "WASHER_REPAIR", "cancelled", "customer_new"),
    (6, "HEATING_FAILURE", "cancelled", "customer_assigned"),
    (35, "WASHER_REPAIR", "cancelled", "desk_accepted"),
]
FIELD_DONE = {"closed", "completed", "awaiting_acceptance"}
ACTIVE = {"en_route", "on_site", "in_progress"}
LEAVES_SITE_ON_HOLD = {"waiting_parts", "police_detail"}

# Descriptions in the words of Boston 311 requests; {street} is the site's street address.
DESCRIPTIONS: dict[str, list[tuple[str, str]]] = {
    "STREET_LIGHT": [
        ("Street light out in front of {street}. The whole block is dark at night.",
         "{street} 门前路灯不亮，夜间整段路漆黑。"),
        ("Street light cycling on and off outside {street}; residents report it has been out for {days} days.",
         "{street} 外路灯忽亮忽灭，居民反映已持续 {days} 天。"),
    ],
    "POTHOLE": [
        ("Pothole about 2 ft wide in the travel lane outside {street}; cars swerving around it.",
         "{street} 外行车道有约 2 英尺宽的坑洞，车辆绕行。"),
        ("Deep pothole at the curb near {street}, filled with water after the rain.",
         "{street} 路边有深坑，雨后积水。"),
    ],
    "TRAFFIC_SIGNAL": [
        ("Traffic signal at Mass Ave & Columbus Ave stuck on flashing red in all directions.",
         "Mass Ave 与 Columbus Ave 路口信号灯四向黄闪/红闪，无法正常切换。"),
        ("Pedestrian signal head dark on the north crosswalk at Mass Ave & Columbus Ave; push button dead.",
         "Mass Ave 与 Columbus Ave 路口北侧人行信号灯不亮，按钮无反应。"),
    ],
    "SIGN_REPAIR": [
        ("Street name sign knocked down at {street}; lying on the sidewalk.",
         "{street} 路名牌被撞倒，倒在人行道上。"),
        ("Stop sign missing at the corner by {street}.", "{street} 旁路口的停车让行标志缺失。"),
    ],
    "HEATING_FAILURE": [
        ("No heat since last night; thermostat set to 70°F but radiators are cold (Heat - Excessive / Insufficient).",
         "昨晚起暖气不热，温控器设在 70°F，暖气片冰凉。"),
        ("Boiler in lockout, error light flashing; apartment down to 58°F.",
         "锅炉锁定报警，指示灯闪烁，室内只有 58°F。"),
    ],
    "PLUMBING_LEAK": [
        ("Water dripping through the ceiling of the 2nd-floor bathroom; supply line under the sink is leaking.",
         "二楼卫生间天花板滴水，水槽下进水管漏水。"),
        ("Pipe leaking in the basement near the water heater; puddle spreading.",
         "地下室热水器旁水管漏水，积水在扩大。"),
    ],
    "ELECTRICAL_FAULT": [
        ("Kitchen circuit breaker keeps tripping; outlets by the counter are dead.",
         "厨房断路器反复跳闸，台面插座没电。"),
        ("Flickering lights and a burning smell from the panel in the hallway.",
         "走廊配电箱附近灯光闪烁并有焦味。"),
    ],
    "DOOR_LOCK": [
        ("Front door deadbolt jammed; the door can't be locked.", "入户门锁舌卡死，门无法上锁。"),
        ("Key broke off in the lock of the back door.", "后门钥匙断在锁芯里。"),
    ],
    "AC_NOT_COOLING": [
        ("Split AC runs but blows warm air; outdoor unit fan not spinning.",
         "空调开机后只吹热风，室外机风扇不转。"),
        ("AC not cooling: ice on the indoor coil, water dripping from the unit.",
         "空调不制冷，室内机盘管结冰并滴水。"),
    ],
    "AC_REPAIR": [
        ("AC making a loud rattling noise and tripping the breaker after a few minutes.",
         "空调运行时异响严重，几分钟后跳闸。"),
        ("Indoor unit leaking water onto the wall; drain line probably blocked.",
         "室内机漏水到墙上，可能是排水管堵塞。"),
    ],
    "WASHER_REPAIR": [
        ("Washer stops mid-cycle with error E18 (drain); water stays in the drum.",
         "洗衣机排水时报 E18 错误，桶内有积水。"),
        ("Washer shakes violently during spin and walks across the floor.", "洗衣机脱水时剧烈抖动并移位。"),
    ],
    "FRIDGE_REPAIR": [
        ("Refrigerator not cold (52°F), freezer OK; compressor clicking.",
         "冰箱冷藏室不冷（52°F），冷冻正常，压缩机有咔哒声。"),
        ("Fridge leaking water under the crisper drawers; ice maker stopped.",
         "冰箱果蔬盒下方漏水，制冰机停止工作。"),
    ],
}

SUMMARIES: dict[str, tuple[str, str]] = {
    "STREET_LIGHT": ("Replaced the failed photocell and tested with the sensor covered; light on.",
                     "更换损坏的光控开关，遮光测试后路灯正常点亮。"),
    "POTHOLE": ("Cut out, tack-coated and patched with hot mix; compacted and reopened the lane.",
                "切边、喷粘层油后用热拌沥青修补，压实后恢复通行。"),
    "TRAFFIC_SIGNAL": ("Replaced the failed conflict monitor card; verified timing plan and all heads.",
                       "更换故障冲突监视卡，核对配时方案及所有灯头。"),
    "SIGN_REPAIR": ("Reset the post in a new anchor and reinstalled the sign; plumb and secure.",
                    "更换地锚重新立杆安装标志，已扶正固定。"),
    "HEATING_FAILURE": ("Replaced the failed ignitor, cleaned the flame sensor, bled the radiators; heat restored.",
                        "更换点火器、清洁火焰探针并给暖气片排气，供暖恢复。"),
    "PLUMBING_LEAK": ("Replaced the corroded supply line and shut-off valve; pressure tested, no leaks.",
                      "更换锈蚀的进水软管及角阀，试压无渗漏。"),
    "ELECTRICAL_FAULT": ("Found a loose neutral on the kitchen circuit; re-terminated and replaced the breaker.",
                         "厨房回路零线松动，已重新压接并更换断路器。"),
    "DOOR_LOCK": ("Replaced the deadbolt cylinder and adjusted the strike plate; lock works smoothly.",
                  "更换锁芯并调整锁扣板，开关顺畅。"),
    "AC_NOT_COOLING": ("Replaced the failed run capacitor and cleaned the condenser coil; supply air 55°F.",
                       "更换损坏的运行电容并清洗冷凝器，出风温度 55°F。"),
    "AC_REPAIR": ("Cleared the blocked condensate line and tightened the fan blade; running quietly.",
                  "疏通冷凝水管并紧固风叶，运行安静。"),
    "WASHER_REPAIR": ("Removed a sock from the drain pump and replaced the worn pump; full cycle OK.",
                      "从排水泵中取出袜子并更换磨损的排水泵，完整周期测试正常。"),
    "FRIDGE_REPAIR": ("Replaced the defrost thermostat and cleared the drain tube; temperatures normal.",
                      "更换化霜温控器并疏通排水管，温度恢复正常。"),
}

PARTS: dict[str, list[tuple[str, str, float]]] = {
    "STREET_LIGHT": [("PC-TL-120", "Twist-lock photocell 120-277 V", 24.5)],
    "POTHOLE": [("HMA-50", "Hot mix asphalt (50 lb bag)", 18.0), ("TACK-1G", "Tack coat (1 gal)", 22.0)],
    "TRAFFIC_SIGNAL": [("CMU-2212", "Conflict monitor card", 640.0)],
    "SIGN_REPAIR": [("ANC-2IN", "2 in. square post anchor", 36.0)],
    "HEATING_FAILURE": [("IGN-HSI", "Hot surface ignitor", 68.0)],
    "PLUMBING_LEAK": [("SL-38-20", "3/8 in. braided supply line, 20 in.", 12.5), ("SV-QT", "Quarter-turn stop valve",
                                                                                    16.0)],
    "ELECTRICAL_FAULT": [("QO120", "Square D QO 20 A breaker", 14.75)],
    "DOOR_LOCK": [("SCH-B60", "Schlage B60N deadbolt", 39.0)],
    "AC_NOT_COOLING": [("CAP-45-5", "Run capacitor 45/5 µF", 19.0)],
    "AC_REPAIR": [("CD-TAB", "Condensate pan tablets", 6.5)],
    "WASHER_REPAIR": [("DP-W10", "Drain pump assembly", 54.0)],
    "FRIDGE_REPAIR": [("DT-2310", "Defrost thermostat", 27.0)],
}

RATING_COMMENTS = [
    ("Quick and tidy, thank you!", "师傅很专业，干活利索，谢谢！"),
    ("Arrived on time and explained everything.", "准时到达，讲解清楚。"),
    ("Fixed, but took a while to find the fault.", "修好了，就是排查时间有点长。"),
    ("Great job, very polite.", "服务态度很好，非常满意。"),
]

# ---- small helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    address: str
    lat: float
    lng: float
    neighborhood: str
    source_type: str
    case_id: str

    @property
    def street(self) -> str:
        return self.address.split(",")[0]


def load_sites() -> list[SiteRow]:
    """The 70 Boston 311 addresses (1..50 customer sites, 51..70 technician homes)."""
    with SITES_CSV.open(newline="", encoding="utf-8") as fh:
        return [SiteRow(r["address"], float(r["lat"]), float(r["lng"]), r["neighborhood"],
                        " ".join(r["source_type"].split()), r["case_enquiry_id"]) for r in csv.DictReader(fh)]


def _png(width: int, height: int, colour_type: int, rows: list[bytes]) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_bytes(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    """A small valid RGB PNG with a vertical gradient (enough to look like a photo thumbnail)."""
    rows = []
    for y in range(height):
        f = y / max(1, height - 1)
        pixel = bytes(round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True))
        rows.append(pixel * width)
    return _png(width, height, 2, rows)


def signature_png(seed: int) -> bytes:
    """A greyscale PNG with a pen-like squiggle, standing in for a customer's signature."""
    width, height = 120, 36
    pixels = [[255] * width for _ in range(height)]
    phase = (seed % 7) / 3
    for x in range(6, width - 6):
        y = int(height / 2 + 9 * math.sin(x / 7 + phase) * math.cos(x / 23))
        for dy in (0, 1):
            if 0 <= y + dy < height:
                pixels[y + dy][x] = 20
    return _png(width, height, 0, [bytes(row) for row in pixels])


def _km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    dlat = (lat2 - lat1) * 111.0
    dlng = (lng2 - lng1) * 111.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dlat, dlng)


def _email(local: str) -> str:
    return f"{local}@{DOMAIN}"


# ---- the world being built ----------------------------------------------------------------------


@dataclass
class TechRec:
    n: int
    spec: TechSpec
    user: User
    tech: Technician
    territory_codes: set[str]
    lat: float
    lng: float
    pos: tuple[float, float] = (0.0, 0.0)
    active: int = 0  # jobs going on now
    field_jobs: int = 0  # jobs worked on site today
    total: int = 0

    @property
    def available(self) -> bool:
        return self.spec.duty in ("on_duty", "on_break")


@dataclass
class CustRec:
    n: int
    spec: CustomerSpec
    user: User
    customer: Customer
    site: Site
    row: SiteRow
    territory_code: str
    asset: Asset | None = None


@dataclass
class Step:
    offset: float  # minutes after the job's anchor
    action: str
    actor: str  # dispatcher | agent | creator | tech | first_tech | customer
    extra: dict[str, Any] = field(default_factory=dict)
    when: datetime | None = None


@dataclass
class Job:
    n: int
    cust: CustRec
    stype: ServiceType
    eff: EffectiveServiceType
    status: str
    flow: str | None
    kind: str = "open"  # field (done before now) | active (going on now) | queued | open
    tech: TechRec | None = None
    first_tech: TechRec | None = None
    creator: str = "agent"
    channel: str = "phone"
    steps: list[Step] = field(default_factory=list)
    duration: float = 60.0
    elapsed: float = 0.0  # active jobs: minutes since the last step
    release: float = 0.0  # field jobs: offset at which the technician was free again
    anchor_mbn: float = 0.0  # the anchor's time, in minutes before now
    wo_id: uuid.UUID | None = None
    photo_ids: list[uuid.UUID] = field(default_factory=list)

    def first(self, action: str) -> datetime | None:
        return next((s.when for s in self.steps if s.action == action), None)


class _Seeder:
    def __init__(self, db: Session, settings: Settings, now: datetime) -> None:
        self.db, self.settings = db, settings
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.tz = ZoneInfo(TZ_NAME)
        self.today = self.now.astimezone(self.tz).date()
        self.rng = random.Random(SEED)
        self.sites = load_sites()
        self.territories: dict[str, Territory] = {}
        self.shapes: dict[str, Any] = {}
        self.staff: dict[str, User] = {}
        self.techs: list[TechRec] = []
        self.custs: list[CustRec] = []
        self.types: dict[str, ServiceType] = {}
        self.effective: dict[str, EffectiveServiceType] = {}
        self.jobs: list[Job] = []
        self.password_hash_profile = settings.password_hash_profile

    # ---- reference data -------------------------------------------------------------------------

    def since(self, days: float) -> dict[str, datetime]:
        """created_at/updated_at of a record set up `days` before now (the demo has some history)."""
        at = self.now - timedelta(days=days)
        return {"created_at": at, "updated_at": at}

    def territory_of(self, lat: float, lng: float) -> str:
        point = Point(lng, lat)
        inside = [code for code, geom in self.shapes.items() if geom.contains(point)]
        if len(inside) != 1:
            raise RuntimeError(f"({lat}, {lng}) is in {len(inside)} demo territories, expected exactly one")
        return inside[0]

    def build_org(self) -> None:
        self.org = Organization(name=ORG_NAME, slug=SLUG, timezone=TZ_NAME, settings={}, **self.since(120))
        self.db.add(self.org)
        self.db.flush()
        for code, name, polygon, _scoped in TERRITORIES:
            territory = Territory(org_id=self.org.id, code=code, name=name, polygon=polygon, active=True,
                                  **self.since(118))
            self.db.add(territory)
            self.territories[code] = territory
            geom = shape(polygon)
            prepare(geom)
            self.shapes[code] = geom
        self.db.flush()
        for row in self.sites:
            self.territory_of(row.lat, row.lng)  # every address lies in exactly one territory

    def _user(self, email_local: str, role: str, name: str, phone: str, locale: str) -> User:
        user = User(org_id=self.org.id, email=_email(email_local), phone=phone, name=name, role=role,
                    password_hash=hash_password(DEMO_PASSWORD, self.password_hash_profile), locale=locale,
                    is_active=True, password_changed_at=self.now - timedelta(days=30), **self.since(100))
        self.db.add(user)
        return user

    def build_staff(self) -> None:
        locales = {"supervisor": "zh-CN", "agent": "zh-CN"}
        for local, role, name, phone in STAFF:
            self.staff[role] = self._user(local, role, name, phone, locales.get(role, "en"))
        self.db.flush()
        supervisor = self.staff["supervisor"]
        for code, _name, _polygon, scoped in TERRITORIES:
            if scoped:
                self.db.add(UserTerritory(user_id=supervisor.id, territory_id=self.territories[code].id))
                self.territories[code].supervisor_user_id = supervisor.id
        self.db.flush()

    def build_catalogues(self) -> None:
        for code, name, name_zh in SKILLS:
            self.db.add(Skill(org_id=self.org.id, code=code, name=name, name_zh=name_zh, active=True,
                              **self.since(117)))
        for code, name, name_zh in CERTIFICATE_TYPES:
            self.db.add(CertificateType(org_id=self.org.id, code=code, name=name, name_zh=name_zh, active=True,
                                        **self.since(117)))
        for spec in SERVICE_TYPES:
            parent = self.types[spec.parent] if spec.parent else None
            st = ServiceType(org_id=self.org.id, parent_id=parent.id if parent else None, code=spec.code,
                             name=spec.name, name_zh=spec.name_zh, description=spec.description,
                             default_duration_min=spec.duration, default_priority=spec.priority,
                             required_skills=[dict(s) for s in spec.skills],
                             required_certificates=list(spec.certificates),
                             checklist_template=[dict(i) for i in spec.checklist],
                             required_photos=[dict(p) for p in spec.photos], active=True, **self.since(116))
            self.db.add(st)
            self.db.flush()
            self.types[spec.code] = st
        for code, st in self.types.items():
            self.effective[code] = service_types.resolve(self.db, self.org.id, st.id)

    def _certificate(self, type_code: str, state: str) -> Certificate:
        prefixes = {"electrician_license": "MA-E-", "refrigerant_handling": "EPA608-U-",
                    "working_at_height": "OSHA-FP-", "confined_space": "OSHA-CS-"}
        number = f"{prefixes[type_code]}{self.rng.randint(100000, 999999)}"
        if state.startswith("expired:"):
            expires = date.fromisoformat(state.split(":", 1)[1])
            if expires >= self.today:  # keep it expired whenever the demo is seeded
                expires = self.today - timedelta(days=self.rng.randint(30, 200))
        elif state == "expiring":
            expires = self.today + timedelta(days=12)
        else:
            expires = self.today + timedelta(days=self.rng.randint(150, 1000))
        issued = expires - timedelta(days=3 * 365)
        return Certificate(type_code=type_code, number=number, issued_on=issued, expires_on=expires)

    def _shifts(self, kind: str) -> list[Shift]:
        days = range(1, 6) if kind == "tue_sat" else range(0, 5)
        start, end = (time(7), time(16)) if kind == "early" else (time(8), time(17))
        return [Shift(weekday=d, start_time=start, end_time=end, break_start=time(12), break_end=time(13))
                for d in days]

    def _local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    def build_technicians(self) -> None:
        km_lat, km_lng = 1 / 111.0, 1 / (111.0 * math.cos(math.radians(42.33)))
        for i, spec in enumerate(TECHS, start=1):
            home = self.sites[50 + i - 1]
            user = self._user(f"tech{i}", "technician", spec.name, tech_phone(i), spec.locale)
            self.db.flush()
            code = self.territory_of(home.lat, home.lng)
            covered = {code}
            if spec.senior:
                covered = set(self.territories)
            else:  # neighbours within 1.5 km of home are served too
                for dlat, dlng in ((1.5, 0), (-1.5, 0), (0, 1.5), (0, -1.5)):
                    p = Point(home.lng + dlng * km_lng, home.lat + dlat * km_lat)
                    covered |= {c for c, g in self.shapes.items() if g.contains(p)}
            hourly = Decimal(str(round(30 + 6 * spec.level + self.rng.uniform(0, 4), 2)))
            tech = Technician(org_id=self.org.id, user_id=user.id, code=f"T{i:02d}", name=spec.name,
                              phone=tech_phone(i), level=spec.level, home_lat=home.lat, home_lng=home.lng,
                              home_address=home.address, max_travel_km=float(self.rng.choice([15, 20, 25, 30])),
                              max_jobs_per_day=8, max_work_minutes=480, duty_status=spec.duty, hourly_cost=hourly,
                              active=True, **self.since(100 - i))
            tech.skills = [TechnicianSkill(skill_code=c, level=lv) for c, lv in sorted(spec.skills.items())]
            tech.territories = [TechnicianTerritory(territory_id=self.territories[c].id) for c in sorted(covered)]
            tech.certificates = [self._certificate(c, s) for c, s in spec.certificates]
            tech.shifts = self._shifts(spec.shift)
            if spec.duty == "on_leave":
                tech.leaves = [Leave(start_at=self._local_midnight(self.today),
                                     end_at=self._local_midnight(self.today + timedelta(days=1)), kind="sick",
                                     reason="Flu – called in sick this morning. 流感病假。")]
            elif i == 2:
                start = self.today + timedelta(days=10)
                tech.leaves = [Leave(start_at=self._local_midnight(start),
                                     end_at=self._local_midnight(start + timedelta(days=5)), kind="vacation",
                                     reason="Family trip 家庭旅行")]
            self.db.add(tech)
            self.db.flush()
            user.technician_id = tech.id
            rec = TechRec(i, spec, user, tech, covered, home.lat, home.lng)
            rec.pos = (home.lat, home.lng)
            self.techs.append(rec)
        self.db.flush()

    def build_customers(self) -> None:
        for i, spec in enumerate(CUSTOMERS, start=1):
            row = self.sites[i - 1]
            person = spec.contact or spec.name
            user = self._user(f"customer{i}", "customer", person, customer_phone(i), spec.locale)
            customer = Customer(org_id=self.org.id, code=f"C{i:03d}", kind=spec.kind, name=spec.name,
                                phone=customer_phone(i), email=_email(f"customer{i}"), tier=spec.tier,
                                preferred_technician_ids=[], blocked_technician_ids=[],
                                notes="Boston 311 partner account" if spec.municipal else None, active=True,
                                **self.since(95 - i))
            self.db.add(customer)
            self.db.flush()
            user.customer_id = customer.id
            code = self.territory_of(row.lat, row.lng)
            site = Site(org_id=self.org.id, customer_id=customer.id,
                        name=spec.site_name if spec.kind == "company" else f"{spec.site_name} – {row.street}",
                        address=row.address, lat=row.lat, lng=row.lng, territory_id=self.territories[code].id,
                        timezone=TZ_NAME, contact_name=person, contact_phone=customer_phone(i),
                        access_notes=spec.access_notes, active=True, **self.since(95 - i))
            self.db.add(site)
            self.db.flush()
            rec = CustRec(i, spec, user, customer, site, row, code)
            if spec.asset is not None:
                a = spec.asset
                installed = date(a.installed_year, self.rng.randint(1, 12), self.rng.randint(1, 28))
                warranty_years = 10 if a.category in ("boiler", "signal", "street_light") else 5
                rec.asset = Asset(org_id=self.org.id, site_id=site.id, customer_id=customer.id, name=a.name,
                                  model=a.model, manufacturer=a.manufacturer,
                                  serial_number=f"{a.serial_prefix}{self.rng.randint(10**7, 10**8 - 1)}",
                                  install_date=installed,
                                  warranty_until=installed.replace(year=installed.year + warranty_years),
                                  active=True, **self.since(95 - i))
                self.db.add(rec.asset)
            self.custs.append(rec)
        self.db.flush()
        for cust_n, tech_n in VIP_PREFERS.items():
            self.custs[cust_n - 1].customer.preferred_technician_ids = [str(self.techs[tech_n - 1].tech.id)]
        for cust_n, tech_n in BLOCKS.items():
            self.custs[cust_n - 1].customer.blocked_technician_ids = [str(self.techs[tech_n - 1].tech.id)]
        self.db.flush()

    # ---- who may do which job -------------------------------------------------------------------

    def qualified(self, tech: TechRec, eff: EffectiveServiceType) -> bool:
        certs = [tech_rules.CertificateInfo(c.type_code, c.number, c.issued_on, c.expires_on)
                 for c in tech.tech.certificates]
        return (not tech_rules.has_skills(tech.spec.skills, eff.required_skills)
                and not tech_rules.valid_certificates(certs, eff.required_certificates, self.today))

    def candidates(self, job: Job) -> list[TechRec]:
        blocked = set(job.cust.customer.blocked_technician_ids or [])
        return [t for t in self.techs if t.available and str(t.tech.id) not in blocked
                and self.qualified(t, job.eff)]

    def _score(self, job: Job, t: TechRec) -> tuple[Any, ...]:
        preferred = set(job.cust.customer.preferred_technician_ids or [])
        site = job.cust.site
        return (str(t.tech.id) not in preferred, t.total // 2, job.cust.territory_code not in t.territory_codes,
                round(_km(t.lat, t.lng, site.lat, site.lng), 1), t.n)

    def _ranked(self, job: Job, techs: list[TechRec]) -> list[TechRec]:
        return [t for _score, t in sorted(((self._score(job, t), t) for t in techs), key=lambda p: p[0])]

    def _take(self, job: Job, tech: TechRec) -> None:
        job.tech = tech
        tech.total += 1
        if job.kind in ("active", "field"):
            tech.field_jobs += 1
        if job.kind == "active":
            tech.active += 1

    def assign_technicians(self) -> None:
        """Qualified technicians for every job that has one: at most one job in progress each."""
        # What is going on right now: one job per technician, so match them (augmenting paths).
        active = sorted((j for j in self.jobs if j.kind == "active"), key=lambda j: (len(self.candidates(j)), j.n))
        options = {j.n: self._ranked(j, [t for t in self.candidates(j) if t.spec.duty == "on_duty"])
                   for j in active}
        holder: dict[int, Job] = {}

        def place(job: Job, seen: set[int]) -> bool:
            for t in options[job.n]:
                if t.n in seen:
                    continue
                seen.add(t.n)
                if t.n not in holder or place(holder[t.n], seen):
                    holder[t.n] = job
                    return True
            return False

        for job in active:
            if not place(job, set()):
                raise RuntimeError(f"no technician is free for demo job {job.n} ({job.eff.code}, {job.status})")
        by_n = {t.n: t for t in self.techs}
        for tech_n, job in sorted(holder.items()):
            self._take(job, by_n[tech_n])
        # The rest of the day, spread over whoever is qualified, nearby and least loaded.
        rest = [j for j in self.jobs if j.kind in ("field", "queued")]
        rest.sort(key=lambda j: (j.kind != "field", len(self.candidates(j)), j.n))
        for job in rest:
            fits = [t for t in self.candidates(job)
                    if t.total < 5 and not (job.kind == "field" and t.field_jobs >= 3)]
            if not fits:
                raise RuntimeError(f"no technician can take demo job {job.n} ({job.eff.code}, {job.status})")
            self._take(job, self._ranked(job, fits)[0])
        for job in self.jobs:
            if job.flow == "reject" and job.tech is not None:
                others = [t for t in self.candidates(job) if t is not job.tech and t.spec.duty == "on_duty"]
                job.first_tech = self._ranked(job, others)[0] if others else None

    # ---- the day's plan -------------------------------------------------------------------------

    def build_jobs(self) -> None:
        for n, (cust_n, type_code, status, flow) in enumerate(JOBS, start=1):
            cust = self.custs[cust_n - 1]
            job = Job(n, cust, self.types[type_code], self.effective[type_code], status, flow)
            if status in FIELD_DONE or (status == "on_hold" and flow in LEAVES_SITE_ON_HOLD):
                job.kind = "field"
            elif status in ACTIVE:
                job.kind = "active"
            elif status in ("assigned", "accepted", "on_hold") or flow in ("customer_assigned", "desk_accepted"):
                job.kind = "queued"
            job.duration = job.eff.default_duration_min * self.rng.uniform(0.75, 1.2)
            if type_code in MUNICIPAL_TYPES and cust.spec.municipal:
                job.creator, job.channel = "dispatcher", "api"
            elif cust.spec.kind == "person" and self.rng.random() < 0.5:
                job.creator, job.channel = "customer", self.rng.choice(["portal", "app"])
            elif cust.spec.kind == "company" and self.rng.random() < 0.4:
                job.creator, job.channel = "dispatcher", "email"
            else:
                job.creator, job.channel = "agent", "phone"
            self.jobs.append(job)
        self.assign_technicians()
        for job in self.jobs:
            self.plan_steps(job)
        self.place_in_time()

    def plan_steps(self, job: Job) -> None:
        u = self.rng.uniform

        def add(offset: float, action: str, actor: str, **extra: Any) -> float:
            job.steps.append(Step(offset, action, actor, extra))
            return offset

        photos = [p["key"] for p in job.eff.required_photos]
        before_keys = [k for k in photos if k != "after"]
        after_keys = [k for k in photos if k == "after"]
        if job.kind in ("field", "active"):
            accept = -u(5, 30)
            assign = accept - u(2, 10)
            add(assign - u(5, 25), "create", "creator")
            add(assign, "assign", "dispatcher")
            add(accept, "accept", "tech")
            add(0, "depart", "tech")
            travel = u(12, 30)
            if job.status == "en_route":
                job.elapsed = u(4, travel - 3)
                return
            t = add(travel, "check-in", "tech")
            if job.status == "on_site":
                job.elapsed = u(2, 10)
                return
            if job.flow == "police_detail":
                job.release = add(t + u(10, 20), "hold", "tech", code="other")
                return
            start = add(t + u(3, 8), "start", "tech")
            for i, key in enumerate(before_keys):
                add(start + 1 + i, "photo", "tech", key=key)
            if job.status == "in_progress":
                job.elapsed = u(10, max(12, 0.7 * job.duration))
                return
            if job.flow == "waiting_parts":
                job.release = add(start + u(20, 35), "hold", "tech", code="waiting_parts")
                return
            end = start + job.duration
            for key in after_keys:
                add(end - 2, "photo", "tech", key=key)
            add(end, "complete", "tech")
            if job.flow == "rework":
                refuse = add(end + u(25, 45), "refuse", "customer")
                depart = add(refuse + u(8, 15), "depart", "tech")
                check_in = add(depart + u(10, 20), "check-in", "tech")
                start2 = add(check_in + u(3, 6), "start", "tech")
                end = start2 + 0.5 * job.duration
                for key in after_keys:
                    add(end - 2, "photo", "tech", key=key)
                add(end, "complete", "tech")
            job.release = end
            if job.status in ("completed", "closed"):
                confirm = add(end + u(15, 80), "confirm", "customer")
                costs = add(confirm + u(5, 20), "costs", "dispatcher")
                if job.status == "closed":
                    add(costs + u(10, 40), "close", "dispatcher")
            return
        add(0, "create", "creator")
        if job.status == "new":
            job.anchor_mbn = u(4, 110)
            return
        if job.flow == "customer_new":
            add(u(10, 50), "cancel", "customer")
            job.anchor_mbn = u(90, 300)
            return
        t = u(4, 20)
        if job.flow == "reject" and job.first_tech is not None:
            add(t, "assign", "dispatcher", first=True)
            t = add(t + u(5, 20), "reject", "first_tech")
            t += u(3, 10)
        add(t, "assign", "dispatcher")
        if job.status == "assigned" or job.flow == "customer_assigned":
            if job.flow == "customer_assigned":
                t = add(t + u(15, 45), "cancel", "customer")
            job.anchor_mbn = t + u(5, 150)
            return
        t = add(t + u(2, 15), "accept", "tech")
        if job.flow == "waiting_customer":
            t = add(t + u(10, 40), "hold", "agent", code="waiting_customer")
        elif job.flow == "desk_accepted":
            t = add(t + u(20, 60), "cancel", "agent")
        job.anchor_mbn = t + u(5, 180)

    def place_in_time(self) -> None:
        """Lay each technician's field work end to end, backwards from now, then fit the day in a window."""
        u = self.rng.uniform
        for tech in self.techs:
            mine = [j for j in self.jobs if j.tech is tech and j.kind in ("field", "active")]
            order = {"closed": 0, "completed": 1, "on_hold": 2, "awaiting_acceptance": 3}
            done = sorted((j for j in mine if j.kind == "field"), key=lambda j: (order.get(j.status, 9), j.n))
            active = [j for j in mine if j.kind == "active"]
            if active:
                job = active[0]
                job.anchor_mbn = max(s.offset for s in job.steps) + job.elapsed
                next_depart = job.anchor_mbn
            else:
                next_depart = u(10, 40)
            for job in reversed(done):
                job.anchor_mbn = next_depart + u(8, 25) + job.release
                next_depart = job.anchor_mbn
        for job in self.jobs:
            job.steps.sort(key=lambda s: s.offset)
            # Confirmation and closing follow the work; squeeze them in if they would land after now.
            tail = [s for s in job.steps if s.offset > job.release] if job.kind == "field" else []
            if tail:
                room = job.anchor_mbn - job.release - 1
                span = max(s.offset for s in tail) - job.release
                if span > room:
                    for s in tail:
                        s.offset = job.release + (s.offset - job.release) * room / span
        local_now = self.now.astimezone(self.tz)
        day_start = datetime.combine(local_now.date(), time(6, 30), tzinfo=self.tz)
        window = min(600.0, max(240.0, (local_now - day_start).total_seconds() / 60))
        earliest = max(job.anchor_mbn - min(s.offset for s in job.steps) for job in self.jobs)
        scale = min(1.0, window / earliest)
        for job in self.jobs:
            for s in job.steps:
                mbn = (job.anchor_mbn - s.offset) * scale
                s.when = self.now - timedelta(seconds=round(max(mbn, 0.5) * 60))
            job.elapsed *= scale

    # ---- acting as the seeded people ------------------------------------------------------------

    def principal(self, job: Job, actor: str) -> Principal:
        org_id = self.org.id
        if actor == "creator":
            actor = job.creator
        if actor in ("dispatcher", "agent"):
            user = self.staff[actor]
            return Principal(user_id=user.id, org_id=org_id, role=Role(actor), name=user.name, locale=user.locale)
        if actor in ("tech", "first_tech"):
            rec = job.tech if actor == "tech" else job.first_tech
            assert rec is not None
            return Principal(user_id=rec.user.id, org_id=org_id, role=Role.technician, name=rec.user.name,
                             technician_id=rec.tech.id, locale=rec.user.locale)
        user = job.cust.user
        return Principal(user_id=user.id, org_id=org_id, role=Role.customer, name=user.name,
                         customer_id=job.cust.customer.id, locale=user.locale)

    def ctx(self, job: Job, actor: str, when: datetime) -> Ctx:
        p = self.principal(job, actor)
        return Ctx(db=self.db, principal=p, now=when, settings=self.settings, lang=p.locale)

    def etag(self, ctx: Ctx, job: Job) -> str:
        assert job.wo_id is not None
        return f'"{work_orders.get(ctx, job.wo_id).version}"'

    def run(self) -> None:
        events = [(s.when, job.n, i, job, s) for job in self.jobs for i, s in enumerate(job.steps)]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for when, _n, _i, job, step in events:
            assert when is not None and when <= self.now
            self.act(job, step, when)

    def act(self, job: Job, step: Step, when: datetime) -> None:
        ctx = self.ctx(job, step.actor, when)
        u, rng = self.rng.uniform, self.rng
        zh = job.cust.spec.locale == "zh-CN"
        if step.action == "create":
            job.wo_id = work_orders.create(ctx, self.create_body(job, when)).id
            return
        assert job.wo_id is not None
        wo_id = job.wo_id
        site = job.cust.site
        tech = job.tech
        if step.action == "assign":
            rec = job.first_tech if step.extra.get("first") else tech
            assert rec is not None
            preferred = str(rec.tech.id) in (job.cust.customer.preferred_technician_ids or [])
            reason = "Customer's preferred technician" if preferred else None
            if job.flow == "reject" and not step.extra.get("first"):
                reason = "Reassigned after the first technician declined"
            work_orders.assign(ctx, wo_id, rec.tech.id, reason, self.etag(ctx, job), data={"mode": "manual"})
        elif step.action == "accept":
            work_orders.perform(ctx, wo_id, "accept", self.etag(ctx, job), ReasonBody())
        elif step.action == "reject":
            rejection = ReasonBody(reason="Van is in the shop; can't make it across town today. "
                                          "车辆送修，今天无法赶到。")
            work_orders.perform(ctx, wo_id, "reject", self.etag(ctx, job), rejection)
        elif step.action == "depart":
            assert tech is not None
            lat, lng = tech.pos
            work_orders.perform(ctx, wo_id, "depart", self.etag(ctx, job),
                                DepartBody(lat=round(lat, 6), lng=round(lng, 6)))
        elif step.action == "check-in":
            assert tech is not None
            lat, lng = site.lat + u(-0.0004, 0.0004), site.lng + u(-0.0005, 0.0005)
            work_orders.perform(ctx, wo_id, "check-in", self.etag(ctx, job),
                                PositionBody(lat=round(lat, 6), lng=round(lng, 6), accuracy_m=round(u(4, 25), 1)))
            tech.pos = (site.lat, site.lng)
        elif step.action == "start":
            work_orders.perform(ctx, wo_id, "start", self.etag(ctx, job), ReasonBody())
        elif step.action == "photo":
            key = step.extra["key"]
            shade = rng.randint(0, 60)
            colours = {"after": ((120 + shade, 170, 200), (60, 110 + shade, 70)),
                       "before": ((90 + shade, 90, 100), (150, 120 + shade, 90))}
            top, bottom = colours.get(key, ((200, 200, 190 + shade), (40, 40, 60)))
            att = work_orders.add_attachment(ctx, wo_id, f"{key}.png", png_bytes(48, 36, top, bottom), "photo", key)
            job.photo_ids.append(att.id)
        elif step.action == "complete":
            work_orders.perform(ctx, wo_id, "complete", self.etag(ctx, job), self.complete_body(job))
        elif step.action == "hold":
            code = step.extra["code"]
            hold_reasons = {
                "waiting_parts": "Condenser fan motor failed; ordered from the supplier, ETA tomorrow 10 am. "
                                 "冷凝风机电机损坏，已向供应商订货，预计明早 10 点到货。",
                "waiting_customer": "Customer asked to come after 5 pm; will call back to confirm. "
                                    "客户要求下午 5 点以后上门，待回电确认。",
                "other": "Police detail required to close a lane at Mass Ave & Columbus Ave; BTD rescheduling "
                         "for tonight. 需警察协助封闭车道，交通局改约今晚。",
            }
            hold = HoldBody(reason_code=code, reason=hold_reasons[code])
            work_orders.perform(ctx, wo_id, "hold", self.etag(ctx, job), hold)
            if tech is not None and code != "waiting_customer":
                tech.pos = (site.lat, site.lng)
        elif step.action == "refuse":
            reason = "二楼暖气片还是不热。" if zh else "Radiators on the 2nd floor are still cold."
            work_orders.perform(ctx, wo_id, "refuse", self.etag(ctx, job), ReasonBody(reason=reason))
        elif step.action == "confirm":
            comment = rng.choice(RATING_COMMENTS)[1 if zh else 0]
            rating = Rating(attitude=rng.choice([4, 5, 5]), quality=rng.choice([3, 4, 5, 5]),
                            speed=rng.choice([3, 4, 5]), comment=comment)
            work_orders.perform(ctx, wo_id, "confirm", self.etag(ctx, job), ConfirmBody(rating=rating))
        elif step.action == "costs":
            assert tech is not None and tech.tech.hourly_cost is not None
            hours = max(0.5, job.duration / 60 * (1.5 if job.flow == "rework" else 1.0))
            costs = WorkOrderUpdate(labor_cost=round(float(tech.tech.hourly_cost) * hours, 2),
                                    travel_cost=round(u(18, 45), 2))
            work_orders.update(ctx, wo_id, self.etag(ctx, job), costs)
        elif step.action == "close":
            work_orders.perform(ctx, wo_id, "close", self.etag(ctx, job), ReasonBody())
        elif step.action == "cancel":
            cancel_reasons = {
                "customer_new": ("Fixed it myself – the drain filter was clogged.", "自己清理了排水过滤器，已经好了。"),
                "customer_assigned": ("The boiler came back on after a reset.", "锅炉复位后恢复正常了。"),
                "desk_accepted": ("Customer not reachable after three calls; please rebook.",
                                  "三次致电客户未接通，请客户重新预约。"),
            }
            en, zh_reason = cancel_reasons[job.flow or "desk_accepted"]
            reason = zh_reason if (zh and step.actor == "customer") else en
            work_orders.perform(ctx, wo_id, "cancel", self.etag(ctx, job), ReasonBody(reason=reason))
        else:  # pragma: no cover - a typo in the plan
            raise ValueError(step.action)

    def create_body(self, job: Job, when: datetime) -> WorkOrderCreate:
        cust, rng = job.cust, self.rng
        zh = cust.spec.locale == "zh-CN"
        en_text, zh_text = rng.choice(DESCRIPTIONS[job.eff.code])
        text = (zh_text if zh else en_text).format(street=cust.row.street, days=rng.randint(2, 6))
        municipal = job.eff.code in MUNICIPAL_TYPES
        if municipal:
            text += f" (BOS:311 case {cust.row.case_id}, {cust.row.neighborhood})"
        asset = None
        if cust.asset is not None and cust.spec.asset is not None \
                and ASSET_FOR.get(job.eff.code) == cust.spec.asset.category:
            asset = cust.asset
        if asset is not None:
            text += f"\n{'设备' if zh else 'Unit'}: {asset.name}, S/N {asset.serial_number}"
        priority = job.eff.default_priority
        if cust.spec.tier in ("vip", "key") and priority in ("P2", "P3"):
            priority = {"P2": "P1", "P3": "P2"}[priority]
        title = f"{job.eff.name_zh if zh else job.eff.name} – {cust.row.street}"
        window_start = window_end = None
        check_in = job.first("check-in")
        if cust.spec.kind == "person" and job.status != "cancelled":
            if check_in is not None:  # the booked window the technician arrived in
                local = check_in.astimezone(self.tz)
                for start in (local.replace(minute=0, second=0, microsecond=0),
                              local.replace(minute=local.minute // 15 * 15, second=0, microsecond=0)):
                    if start >= when:
                        window_start, window_end = start, start + timedelta(hours=2)
                        break
            elif job.status in ("new", "assigned", "accepted"):
                local = (when + timedelta(hours=rng.randint(2, 4))).astimezone(self.tz)
                window_start = local.replace(minute=0, second=0, microsecond=0)
                window_end = window_start + timedelta(hours=2)
        custom: dict[str, str | int | float | bool | None] = {}
        if municipal:
            custom = {"boston_311_type": cust.row.source_type, "neighborhood": cust.row.neighborhood}
        parts = [PartLine(sku=sku, name=name, qty=1) for sku, name, _p in PARTS[job.eff.code][:1]] \
            if job.eff.code in ("AC_NOT_COOLING", "TRAFFIC_SIGNAL") else []
        return WorkOrderCreate(
            customer_id=None if job.creator == "customer" else cust.customer.id, site_id=cust.site.id,
            asset_id=asset.id if asset is not None else None, service_type_id=job.stype.id, title=title,
            description=text, priority=priority, channel=job.channel,  # type: ignore[arg-type]
            window_start=window_start, window_end=window_end, required_parts=parts, custom_fields=custom,
            external_ref=f"BOS311-{cust.row.case_id}" if municipal and job.channel == "api" else None,
        )

    def complete_body(self, job: Job) -> CompleteBody:
        rng, tech = self.rng, job.tech
        assert tech is not None
        answers: dict[str, Any] = {}
        numbers = {"suction_pressure_psi": (118, 135), "supply_air_temp_f": (52, 58), "refrigerant_added_oz": (0, 8),
                   "fridge_temp_f": (36, 39), "freezer_temp_f": (-2, 3), "insulation_mohm": (80, 500),
                   "boiler_pressure_psi": (12, 18), "room_temp_f": (67, 71), "co_ppm": (0, 9),
                   "keys_handed_over": (2, 3), "area_sqft": (4, 18)}
        texts = {"model_serial": job.cust.asset.serial_number if job.cust.asset else "n/a",
                 "pole_number": f"BPW-{rng.randint(1000, 9999)}", "intersection": "Mass Ave & Columbus Ave",
                 "error_code": "E18"}
        for item in job.eff.checklist_template:
            key, kind = str(item["key"]), item["type"]
            if kind == "bool":
                answers[key] = True
            elif kind == "number":
                low, high = numbers.get(key, (1, 10))
                answers[key] = rng.randint(low, high)
            elif kind == "choice":
                answers[key] = rng.choice(item["options"])
            else:
                answers[key] = texts.get(key) or "OK"
        en, zh = SUMMARIES[job.eff.code]
        parts = [PartLine(sku=sku, name=name, qty=2 if "bag" in name else 1, unit_price=price)
                 for sku, name, price in PARTS[job.eff.code]]
        signature = None
        if job.cust.spec.kind == "person":
            signature = base64.b64encode(signature_png(job.n)).decode()
        return CompleteBody(summary=zh if tech.spec.locale == "zh-CN" else en, checklist=answers, parts_used=parts,
                            photo_attachment_ids=list(job.photo_ids), signature_png_base64=signature)

    def finish_technicians(self) -> None:
        """Last known positions for the live map: where each working technician is right now."""
        for rec in self.techs:
            tech = rec.tech
            if rec.spec.duty not in ("on_duty", "on_break"):
                continue
            lat, lng = rec.pos
            active = [j for j in self.jobs if j.tech is rec and j.kind == "active"]
            if active and active[0].status == "en_route":  # part of the way from the last stop to the site
                site = active[0].cust.site
                f = self.rng.uniform(0.3, 0.7)
                lat, lng = lat + (site.lat - lat) * f, lng + (site.lng - lng) * f
            tech.last_lat, tech.last_lng = round(lat, 6), round(lng, 6)
            tech.last_seen_at = self.now - timedelta(seconds=self.rng.randint(20, 240))
        self.db.flush()

    def seed(self) -> None:
        self.build_org()
        self.build_staff()
        self.build_catalogues()
        self.build_technicians()
        self.build_customers()
        self.build_jobs()
        self.run()
        self.finish_technicians()


# ---- removing an earlier demo organisation (seed --force) ---------------------------------------

def _delete_org(db: Session, settings: Settings, org_id: uuid.UUID) -> None:
    """Delete an organisation and everything it owns, children before parents."""
    load_all()
    user_ids = list(db.scalars(select(User.id).where(User.org_id == org_id)))
    if user_ids:
        db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.user_id.in_(user_ids)))
    event_ids = select(OutboxEvent.id).where(OutboxEvent.org_id == org_id)
    db.execute(delete(ProcessedEvent).where(ProcessedEvent.event_id.in_(event_ids)))
    db.execute(update(ServiceType).where(ServiceType.org_id == org_id).values(parent_id=None))
    db.execute(update(Territory).where(Territory.org_id == org_id).values(supervisor_user_id=None))
    with purging(db):  # the per-order audit trails go with the organisation; audit_log (no FK) stays
        for table in reversed(Base.metadata.sorted_tables):
            if "org_id" in table.c and table.name not in ("organizations", AuditLog.__tablename__):
                db.execute(delete(table).where(table.c.org_id == org_id))
        db.execute(delete(Organization).where(Organization.id == org_id))
        db.flush()
    shutil.rmtree(settings.attachments_root / str(org_id), ignore_errors=True)


def seed_sla(db: Session, moment: datetime) -> None:
    """SLA demo: a 24/7 policy for P0 and a business-hours policy (Boston office, MA holidays) for P1-P3, and
    clocks for the demo's work orders as their events would have made them (met, paused, stopped)."""
    from fieldops.sla import service as sla
    from fieldops.sla.models import SlaCalendar, SlaPolicy

    org_id = db.scalar(select(Organization.id).where(Organization.slug == SLUG))
    if org_id is None:
        return
    always = SlaCalendar(org_id=org_id, name="24/7 emergencies", always_open=True, hours={}, custom_days=[],
                         created_at=moment, updated_at=moment)
    office = SlaCalendar(org_id=org_id, name="Boston office (Mon-Fri 08:00-18:00, MA holidays)",
                         timezone="America/New_York", always_open=False,
                         hours={d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                         holiday_country="US", holiday_subdiv="MA", custom_days=[], created_at=moment,
                         updated_at=moment)
    db.add_all([always, office])
    db.flush()
    desk = {"dispatchers": True}
    db.add_all([
        SlaPolicy(org_id=org_id, name="P0 emergency 24/7", rank=10, calendar_id=always.id, service_type_ids=[],
                  priorities=["P0"], customer_tiers=[], pause_on_hold=True, pause_reason_codes=["waiting_customer"],
                  targets={"response": {"minutes": 5}, "arrival": {"minutes": 60}, "resolution": {"hours": 4}},
                  ladder=[
                      {"name": "50 %", "color": "yellow", "percent": 50, "recipients": desk, "channels": ["in_app"]},
                      {"name": "80 %", "color": "orange", "percent": 80, "recipients": {**desk, "assignee": True},
                       "channels": ["in_app", "sms"]},
                      {"name": "Breach", "color": "red", "percent": 100,
                       "recipients": {**desk, "assignee": True, "supervisors": True},
                       "channels": ["in_app", "email", "sms"]},
                      {"name": "+5 min", "color": "black", "offset_minutes": 5, "targets": ["response"],
                       "recipients": {"supervisors": True}, "channels": ["in_app", "sms"], "action": "reassign"},
                      {"name": "+5 min", "color": "black", "offset_minutes": 5, "targets": ["arrival"],
                       "recipients": {"supervisors": True}, "channels": ["in_app", "sms"], "action": "pool"},
                  ], created_at=moment, updated_at=moment),
        SlaPolicy(org_id=org_id, name="Business hours P1-P3", rank=0, calendar_id=office.id, service_type_ids=[],
                  priorities=["P1", "P2", "P3"], customer_tiers=[], pause_on_hold=True, pause_reason_codes=[],
                  targets={"response": {"hours": 2},
                           "resolution": {"business_days": 3, "at": "17:00", "cutoff": "16:00"}},
                  ladder=[
                      {"name": "75 %", "color": "yellow", "percent": 75, "recipients": desk, "channels": ["in_app"]},
                      {"name": "Breach", "color": "red", "percent": 100, "recipients": {**desk, "supervisors": True},
                       "channels": ["in_app", "email"]},
                      {"name": "+2 h", "color": "black", "offset_minutes": 120, "recipients": {"roles": ["admin"]},
                       "channels": ["in_app", "email"], "action": "raise_priority"},
                  ], created_at=moment, updated_at=moment),
    ])
    db.flush()
    for wo in db.scalars(select(WorkOrder).where(WorkOrder.org_id == org_id)):
        sla.seed_clocks(db, wo, moment)
    db.flush()


# ---- entry point --------------------------------------------------------------------------------

def seed_demo(settings: Settings, force: bool = False, *, now: datetime | None = None) -> bool:
    """Create the demo organisation (Boston) with people, catalogues and a day of work orders.

    Returns False without touching anything when the database already has an organisation, unless
    `force`, which replaces an earlier demo organisation (other organisations are left alone).
    Everything is written in one transaction. `now` (default: the wall clock) is the moment the
    demo day ends at; all timestamps lie before it.
    """
    started = _time.perf_counter()
    load_all()
    database = Database(settings.database_url)
    try:
        with database.session() as db:
            if db.scalar(select(Organization.id).limit(1)) is not None and not force:
                return False
            old = db.scalar(select(Organization.id).where(Organization.slug == SLUG))
            if old is not None:
                _delete_org(db, settings, old)
            moment = now or Clock().now()
            _Seeder(db, settings, moment).seed()
            seed_sla(db, moment)
            # The demo day is history: its events must not trigger dispatch again when the worker starts.
            # Closed orders still feed the learned technician performance.
            db.execute(update(OutboxEvent).where(OutboxEvent.processed_at.is_(None),
                                                 OutboxEvent.type != "work_order.closed")
                       .values(processed_at=moment))
            db.commit()
    finally:
        database.dispose()
    log.info("seeded the demo organisation in %.1f s", _time.perf_counter() - started)
    return True
