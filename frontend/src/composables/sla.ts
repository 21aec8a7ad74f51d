/** SLA clocks as the console shows them: the most urgent open clock per order, and its colour. */
import { request } from '@/api/client'

export interface Escalation {
  level: number
  name: string
  color: string | null
  kind: string
  due_at: string
  fired_at: string
  action: string | null
  result: Record<string, unknown>
}

export interface SlaClock {
  id: string
  work_order_id: string
  number: string | null
  target: 'response' | 'arrival' | 'resolution'
  cycle: number
  status: 'running' | 'paused' | 'met' | 'breached' | 'stopped'
  breached: boolean
  started_at: string
  deadline_at: string
  met_at: string | null
  on_time: boolean | null
  paused: boolean
  pause_reason: string | null
  paused_seconds: number | null
  percent_elapsed: number | null
  at_risk: boolean
  replaced: boolean
  escalations: Escalation[]
}

/** Clocks of up to 100 orders in one call (`work_order_id` repeated). */
export async function clocksOf(ids: string[]): Promise<SlaClock[]> {
  if (!ids.length) return []
  const qs = new URLSearchParams({ limit: '100' })
  for (const id of ids.slice(0, 100)) qs.append('work_order_id', id)
  const { data } = await request<{ items: SlaClock[] }>('GET', `/api/v1/sla/clocks?${qs.toString()}`)
  return data.items
}

const OPEN = new Set(['running', 'paused', 'breached'])

/** The clock to show for an order: an open one nearest its deadline (breached first), else none. */
export function urgentClock(clocks: SlaClock[]): SlaClock | null {
  const open = clocks.filter((c) => !c.replaced && OPEN.has(c.status) && !c.met_at)
  open.sort((a, b) => Number(b.breached) - Number(a.breached) || new Date(a.deadline_at).getTime() - new Date(b.deadline_at).getTime())
  return open[0] ?? null
}

/** 'ok' | 'warn' | 'late' | 'paused' | 'met' | 'missed' */
export function clockTone(c: SlaClock): string {
  if (c.met_at) return c.on_time === false ? 'missed' : 'met'
  if (c.breached || c.status === 'breached') return 'late'
  if (c.paused || c.status === 'paused') return 'paused'
  if (c.at_risk || (c.percent_elapsed ?? 0) >= 75) return 'warn'
  return 'ok'
}

/** "12 min left" / "1 h 5 min over" relative to now, in minutes (negative: over). */
export function minutesLeft(c: SlaClock, now = Date.now()): number {
  return Math.round((new Date(c.deadline_at).getTime() - now) / 60000)
}

export function fmtMinutes(m: number): string {
  const a = Math.abs(m)
  if (a < 60) return `${a} min`
  const h = Math.floor(a / 60)
  if (h < 48) return `${h} h ${a % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}
