import type { Audit } from '@/api/types'

/** The assigned technician's name as the audit trail tells it (customers cannot list technicians). */
export function technicianNameFrom(timeline: Audit[], technicianId: string | null | undefined): string {
  if (!technicianId) return ''
  for (let i = timeline.length - 1; i >= 0; i--) {
    const a = timeline[i]
    const d = (a.data ?? {}) as Record<string, unknown>
    const changed = (a.changes ?? {}) as Record<string, unknown[]>
    if (typeof d.technician_name === 'string' && (!changed.technician_id || changed.technician_id[1] === technicianId)) return d.technician_name
    if (a.actor_role === 'technician' && ['accept', 'depart', 'check-in', 'start', 'complete'].includes(a.action)) return a.actor_name
  }
  return ''
}
