/** Last known jobs of the technician, so the phone shows them without a connection. */
import type { WorkOrder } from '@/api/types'

const LIST = 'fieldops.tech.jobs'
const ONE = (id: string) => `fieldops.tech.job.${id}`

export function saveJobs(items: WorkOrder[]): void {
  try {
    localStorage.setItem(LIST, JSON.stringify(items))
  } catch {
    /* storage full: the cache is a convenience */
  }
}
export function cachedJobs(): WorkOrder[] | null {
  try {
    return JSON.parse(localStorage.getItem(LIST) ?? 'null') as WorkOrder[] | null
  } catch {
    return null
  }
}
export function saveJob(wo: WorkOrder, extra: Record<string, unknown> = {}): void {
  try {
    localStorage.setItem(ONE(wo.id), JSON.stringify({ wo, ...extra }))
  } catch {
    /* ignore */
  }
}
export function cachedJob<T = Record<string, unknown>>(id: string): ({ wo: WorkOrder } & T) | null {
  try {
    return JSON.parse(localStorage.getItem(ONE(id)) ?? 'null')
  } catch {
    return null
  }
}

/** The completion form in progress (checklist answers, parts, summary), kept across reloads. */
export function saveDraft(id: string, draft: unknown): void {
  localStorage.setItem(`fieldops.tech.draft.${id}`, JSON.stringify(draft))
}
export function loadDraft<T>(id: string): T | null {
  try {
    return JSON.parse(localStorage.getItem(`fieldops.tech.draft.${id}`) ?? 'null') as T | null
  } catch {
    return null
  }
}
export function dropDraft(id: string): void {
  localStorage.removeItem(`fieldops.tech.draft.${id}`)
}
