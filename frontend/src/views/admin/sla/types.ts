/**
 * Hand-written shapes of the SLA API (src/fieldops/sla/schemas.py) and the conversions between the editors'
 * forms and the request bodies. Generated types may lag behind the backend, so the screens use `request<T>`.
 */
import { ApiError } from '@/api/client'
import { tzOffsetMinutes } from '@/composables/format'

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export type Weekday = (typeof WEEKDAYS)[number]
export const TARGETS = ['response', 'arrival', 'resolution'] as const
export type TargetName = (typeof TARGETS)[number]
export const PRIORITIES = ['P0', 'P1', 'P2', 'P3'] as const
export const TIERS = ['standard', 'vip', 'key'] as const
export const HOLD_REASONS = ['waiting_customer', 'waiting_parts', 'other'] as const
export const CHANNELS = ['in_app', 'email', 'sms', 'wecom', 'dingtalk', 'webhook'] as const
export const ACTIONS = ['reassign', 'pool', 'raise_priority'] as const
export const LADDER_ROLES = ['admin', 'supervisor', 'dispatcher', 'agent', 'finance', 'technician'] as const
export const ZONES = [
  'Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Singapore', 'Asia/Tokyo', 'Asia/Kolkata', 'Asia/Dubai',
  'Europe/London', 'Europe/Paris', 'Europe/Berlin', 'UTC', 'America/New_York', 'America/Chicago', 'America/Denver',
  'America/Los_Angeles', 'America/Sao_Paulo', 'Australia/Sydney',
]
export const COUNTRIES = ['CN', 'HK', 'TW', 'SG', 'JP', 'US', 'CA', 'GB', 'DE', 'FR', 'AU', 'IN']

/** [start, end] as HH:mm; "24:00" closes a day. */
export type Interval = [string, string]

export interface CustomDay {
  date: string
  hours: Interval[]
  note?: string | null
}

export interface CalendarFields {
  timezone: string | null
  always_open: boolean
  hours: Partial<Record<Weekday, Interval[]>>
  holiday_country: string | null
  holiday_subdiv: string | null
  makeup_hours: Interval[] | null
  custom_days: CustomDay[]
}

export interface Calendar extends CalendarFields {
  id: string
  name: string
  version: number
  created_at: string
  updated_at: string
}

export interface TargetIn {
  minutes?: number
  hours?: number
  business_days?: number
  at?: string
  cutoff?: string
}
export type Targets = Partial<Record<TargetName, TargetIn>>

export interface Recipients {
  assignee: boolean
  dispatchers: boolean
  supervisors: boolean
  roles: string[]
  user_ids: string[]
}

export interface Level {
  name: string
  color: string | null
  targets: TargetName[]
  offset_minutes: number | null
  percent: number | null
  recipients: Recipients
  channels: string[] | null
  action: string | null
}

export interface PolicyFields {
  active: boolean
  rank: number
  service_type_ids: string[]
  priorities: string[]
  customer_tiers: string[]
  targets: Targets
  pause_on_hold: boolean
  pause_reason_codes: string[]
  ladder: Level[]
}

export interface Policy extends PolicyFields {
  id: string
  name: string
  calendar_id: string
  version: number
  created_at: string
  updated_at: string
}

export interface LevelTime {
  index: number
  name: string
  color: string | null
  kind: string
  fire_at: string
  fire_local: string
}

export interface TargetPreview {
  target: TargetName
  deadline_at: string
  deadline_local: string
  business_minutes: number
  levels: LevelTime[]
}

export interface PreviewResult {
  timezone: string
  start_local: string
  targets: TargetPreview[]
}

export interface HolidayItem {
  date: string
  name: string
  kind: 'holiday' | 'workday'
}

export interface Holidays {
  country: string
  subdiv: string | null
  year: number
  items: HolidayItem[]
}

// ---- editor forms --------------------------------------------------------------------------------

export type TargetUnit = 'minutes' | 'hours' | 'business_days'

/** One target as the editor holds it: a unit and an amount (+ time of day and cutoff for business days). */
export interface TargetForm {
  enabled: boolean
  unit: TargetUnit
  amount: number
  at: string
  cutoff: string
}

export function targetForm(t?: TargetIn | null, fallback?: Partial<TargetForm>): TargetForm {
  if (!t) return { enabled: false, unit: 'hours', amount: 4, at: '', cutoff: '', ...fallback }
  if (t.business_days !== undefined && t.business_days !== null)
    return { enabled: true, unit: 'business_days', amount: t.business_days, at: t.at ?? '', cutoff: t.cutoff ?? '' }
  if (t.hours !== undefined && t.hours !== null) return { enabled: true, unit: 'hours', amount: t.hours, at: '', cutoff: '' }
  return { enabled: true, unit: 'minutes', amount: t.minutes ?? 60, at: '', cutoff: '' }
}

export function targetBody(f: TargetForm): TargetIn {
  if (f.unit === 'business_days') {
    const out: TargetIn = { business_days: f.amount }
    if (f.at) out.at = f.at
    if (f.cutoff) out.cutoff = f.cutoff
    return out
  }
  return f.unit === 'hours' ? { hours: f.amount } : { minutes: f.amount }
}

export function targetsBody(forms: Record<TargetName, TargetForm>): Targets {
  const out: Targets = {}
  for (const k of TARGETS) if (forms[k].enabled) out[k] = targetBody(forms[k])
  return out
}

export interface LevelForm {
  name: string
  color: string
  mode: 'percent' | 'offset'
  value: number
  targets: TargetName[]
  assignee: boolean
  dispatchers: boolean
  supervisors: boolean
  roles: string[]
  user_ids: string[]
  channels: string[]
  action: string
}

export function levelForm(l?: Partial<Level>): LevelForm {
  const r = l?.recipients
  return {
    name: l?.name ?? '',
    color: l?.color ?? '#e6a23c',
    mode: l?.offset_minutes !== undefined && l?.offset_minutes !== null ? 'offset' : 'percent',
    value: l?.offset_minutes ?? l?.percent ?? 80,
    targets: [...(l?.targets ?? [])],
    assignee: r?.assignee ?? false,
    dispatchers: r?.dispatchers ?? false,
    supervisors: r?.supervisors ?? false,
    roles: [...(r?.roles ?? [])],
    user_ids: [...(r?.user_ids ?? [])],
    channels: [...(l?.channels ?? [])],
    action: l?.action ?? 'none',
  }
}

export function levelBody(f: LevelForm): Level {
  return {
    name: f.name,
    color: f.color || null,
    targets: [...f.targets],
    offset_minutes: f.mode === 'offset' ? f.value : null,
    percent: f.mode === 'percent' ? f.value : null,
    recipients: { assignee: f.assignee, dispatchers: f.dispatchers, supervisors: f.supervisors, roles: [...f.roles], user_ids: [...f.user_ids] },
    channels: f.channels.length ? [...f.channels] : null,
    action: f.action && f.action !== 'none' ? f.action : null,
  }
}

/** The ladder a new policy starts with: a warning at 80 %, the breach, and an escalation an hour later. */
export function defaultLadder(names: [string, string, string]): LevelForm[] {
  return [
    levelForm({ name: names[0], color: '#e6a23c', percent: 80, recipients: { assignee: true, dispatchers: false, supervisors: false, roles: [], user_ids: [] }, channels: ['in_app'] }),
    levelForm({ name: names[1], color: '#f56c6c', percent: 100, recipients: { assignee: true, dispatchers: true, supervisors: false, roles: [], user_ids: [] }, channels: ['in_app', 'email'] }),
    levelForm({ name: names[2], color: '#8b1e3f', offset_minutes: 60, recipients: { assignee: false, dispatchers: true, supervisors: true, roles: [], user_ids: [] }, channels: ['in_app', 'sms'], action: 'reassign' }),
  ]
}

// ---- calendar form -------------------------------------------------------------------------------

export interface CalendarForm {
  name: string
  timezone: string
  always_open: boolean
  hours: Record<Weekday, Interval[]>
  holiday_country: string
  holiday_subdiv: string
  makeup_custom: boolean
  makeup_hours: Interval[]
  custom_days: { date: string; closed: boolean; hours: Interval[]; note: string }[]
}

export function calendarForm(c?: Calendar | null, zone = 'Asia/Shanghai'): CalendarForm {
  if (!c) {
    const hours = Object.fromEntries(WEEKDAYS.map((d) => [d, d === 'sat' || d === 'sun' ? [] : [['09:00', '18:00']]])) as Record<Weekday, Interval[]>
    return { name: '', timezone: zone, always_open: false, hours, holiday_country: '', holiday_subdiv: '', makeup_custom: false, makeup_hours: [['09:00', '18:00']], custom_days: [] }
  }
  const hours = Object.fromEntries(WEEKDAYS.map((d) => [d, (c.hours[d] ?? []).map((i) => [i[0], i[1]] as Interval)])) as Record<Weekday, Interval[]>
  return {
    name: c.name,
    timezone: c.timezone ?? '',
    always_open: c.always_open,
    hours,
    holiday_country: c.holiday_country ?? '',
    holiday_subdiv: c.holiday_subdiv ?? '',
    makeup_custom: c.makeup_hours !== null,
    makeup_hours: (c.makeup_hours ?? [['09:00', '18:00']]).map((i) => [i[0], i[1]] as Interval),
    custom_days: (c.custom_days ?? []).map((d) => ({ date: d.date, closed: !d.hours?.length, hours: (d.hours ?? []).map((i) => [i[0], i[1]] as Interval), note: d.note ?? '' })),
  }
}

export function calendarBody(f: CalendarForm): CalendarFields {
  const hours: Partial<Record<Weekday, Interval[]>> = {}
  for (const d of WEEKDAYS) if (f.hours[d].length) hours[d] = f.hours[d].map((i) => [i[0], i[1]])
  return {
    timezone: f.timezone.trim() || null,
    always_open: f.always_open,
    hours,
    holiday_country: f.holiday_country.trim().toUpperCase() || null,
    holiday_subdiv: f.holiday_country.trim() && f.holiday_subdiv.trim() ? f.holiday_subdiv.trim().toUpperCase() : null,
    makeup_hours: f.makeup_custom ? f.makeup_hours.map((i) => [i[0], i[1]]) : null,
    custom_days: f.custom_days
      .filter((d) => d.date)
      .map((d) => ({ date: d.date, hours: d.closed ? [] : d.hours.map((i) => [i[0], i[1]] as Interval), note: d.note.trim() || null })),
  }
}

// ---- helpers -------------------------------------------------------------------------------------

/** Times every 30 minutes for the interval selects (free typing is allowed too). */
export const HALF_HOURS: string[] = Array.from({ length: 49 }, (_, i) => `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`)

/** "2026-09-30T17:00" in `zone` → the instant as an ISO string (UTC). */
export function zonedIso(local: string, zone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(local)
  if (!m) return local
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5])
  let at = guess - tzOffsetMinutes(new Date(guess), zone) * 60000
  at = guess - tzOffsetMinutes(new Date(at), zone) * 60000 // once more across a DST change
  return new Date(at).toISOString()
}

/** "2026-10-08T10:00:00+08:00" → "2026-10-08 10:00" (the calendar's local wall time, as the server gives it). */
export function wallTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso)
  return m ? `${m[1]} ${m[2]}` : iso
}

/** Mon..Sun index (0..6) of the wall date in an ISO string with offset. */
export function wallWeekday(iso: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso)
  if (!m) return 0
  return (new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).getUTCDay() + 6) % 7
}

/** Field errors keyed the same way whatever their source: "ladder[0].targets" and "ladder.0.targets" agree. */
export function normField(field: string): string {
  return field.replace(/\[(\d+)\]/g, '.$1').replace(/^\./, '')
}

export interface ErrorState {
  message: string
  fields: Record<string, string>
  list: { field: string; message: string }[]
}

export function emptyErrors(): ErrorState {
  return { message: '', fields: {}, list: [] }
}

export function toErrors(e: unknown): ErrorState {
  if (e instanceof ApiError) {
    const fields: Record<string, string> = {}
    const list = e.errors.map((x) => ({ field: normField(x.field), message: x.message }))
    for (const x of list) if (x.field && !fields[x.field]) fields[x.field] = x.message
    return { message: e.message, fields, list }
  }
  return { message: String(e), fields: {}, list: [] }
}

/** The first error at or under `prefix` (e.g. "hours.mon" also catches "hours.mon.0"). */
export function errorAt(state: ErrorState, prefix: string): string | undefined {
  if (state.fields[prefix]) return state.fields[prefix]
  const hit = state.list.find((x) => x.field.startsWith(`${prefix}.`))
  return hit?.message
}
