import { currentLocale } from '@/i18n'
import { useSession } from '@/stores/session'

function tz(): string | undefined {
  try {
    return useSession().timezone
  } catch {
    return undefined
  }
}

const cache = new Map<string, Intl.DateTimeFormat>()
function fmt(kind: 'datetime' | 'date' | 'time' | 'short'): Intl.DateTimeFormat {
  const loc = currentLocale() === 'zh-CN' ? 'zh-CN' : 'en-US'
  const zone = tz()
  const key = `${loc}|${zone}|${kind}`
  let f = cache.get(key)
  if (!f) {
    const base: Intl.DateTimeFormatOptions = { timeZone: zone, hour12: false }
    const opts: Intl.DateTimeFormatOptions =
      kind === 'date'
        ? { ...base, year: 'numeric', month: '2-digit', day: '2-digit' }
        : kind === 'time'
          ? { ...base, hour: '2-digit', minute: '2-digit' }
          : kind === 'short'
            ? { ...base, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }
            : { ...base, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }
    f = new Intl.DateTimeFormat(loc, opts)
    cache.set(key, f)
  }
  return f
}

/** Format an ISO timestamp in the organisation's time zone and the UI language ('' for null). */
export function fmtTime(iso: string | null | undefined, kind: 'datetime' | 'date' | 'time' | 'short' = 'datetime'): string {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  return fmt(kind).format(d)
}

export function fmtWindow(start: string | null | undefined, end: string | null | undefined): string {
  if (!start && !end) return ''
  if (start && end) {
    const a = fmtTime(start, 'short')
    const sameDay = fmtTime(start, 'date') === fmtTime(end, 'date')
    return `${a} – ${sameDay ? fmtTime(end, 'time') : fmtTime(end, 'short')}`
  }
  return fmtTime(start ?? end)
}

export function fmtMoney(v: number | null | undefined, currency = 'USD'): string {
  if (v === null || v === undefined) return ''
  return new Intl.NumberFormat(currentLocale() === 'zh-CN' ? 'zh-CN' : 'en-US', { style: 'currency', currency }).format(v)
}

export function fmtDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600)
  const m = Math.round((seconds % 3600) / 60)
  return h ? `${h}h ${m}m` : `${m}m`
}

/** Minutes the zone is ahead of UTC at that instant (e.g. -300 for New York in winter). */
export function tzOffsetMinutes(at: Date, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(at)
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60000)
}

/** The calendar day (YYYY-MM-DD) of an instant in a zone. */
export function dayInZone(at: Date, zone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at)
}

/** The instant of hour:00 on a calendar day (YYYY-MM-DD) in a zone. */
export function zonedHour(day: string, hour: number, zone: string): Date {
  const [y, m, d] = day.split('-').map(Number)
  const guess = Date.UTC(y, m - 1, d, hour)
  return new Date(guess - tzOffsetMinutes(new Date(guess), zone) * 60000)
}
