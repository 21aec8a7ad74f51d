/** Work-order actions (POST /work-orders/{id}/{action}) and uploads, optionally through the offline queue. */
import { ApiError, newKey, request } from './client'
import { enqueue, flush, offline } from './offline'
import type { Attachment, ExceptionKind, ExceptionReport, Status, WorkOrder } from './types'

export const woUrl = (id: string) => `/api/v1/work-orders/${id}`

export interface Outcome<T> {
  data: T | null
  queued: boolean
}

/** Status a technician action leads to (for showing queued offline work before it is sent). */
export const TECH_NEXT: Record<string, Status> = {
  accept: 'accepted',
  reject: 'new',
  depart: 'en_route',
  'check-in': 'on_site',
  start: 'in_progress',
  complete: 'awaiting_acceptance',
  hold: 'on_hold',
}

/** What a technician can do next from a status, used only while changes wait in the offline queue. */
export const TECH_FLOW: Partial<Record<Status, string[]>> = {
  assigned: ['accept', 'reject'],
  accepted: ['depart', 'check-in', 'hold', 'request-transfer'],
  en_route: ['check-in', 'hold', 'request-transfer'],
  on_site: ['start', 'hold'],
  in_progress: ['complete', 'hold'],
  on_hold: ['resume'],
}

async function viaQueue<T>(
  queueable: boolean,
  call: { url: string; body?: unknown; file?: Blob; filename?: string; fields?: Record<string, string>; woId: string; label: string },
  online: (key: string) => Promise<T>,
): Promise<Outcome<T>> {
  const key = newKey()
  // Anything already queued for this order must go first, so new calls queue behind it.
  const behind = offline.items.some((c) => c.woId === call.woId)
  if (queueable && (!navigator.onLine || behind)) {
    await enqueue({ ...call, idemKey: key })
    if (navigator.onLine) void flush()
    return { data: null, queued: true }
  }
  try {
    return { data: await online(key), queued: false }
  } catch (e) {
    if (queueable && e instanceof ApiError && e.isNetwork) {
      await enqueue({ ...call, idemKey: key }) // same key: if the first try did arrive, it is not applied twice
      offline.online = false
      return { data: null, queued: true }
    }
    throw e
  }
}

function isWorkOrder(x: unknown): x is WorkOrder {
  return !!x && typeof x === 'object' && 'number' in x && 'status' in x && 'allowed_actions' in x
}

/** Run an action; with `queueable` a failure to reach the server stores it for later. */
export async function runAction(woId: string, action: string, body: unknown = {}, queueable = false): Promise<Outcome<WorkOrder>> {
  const url = `${woUrl(woId)}/${action}`
  return viaQueue(queueable, { url, body, woId, label: action }, async (key) => {
    const data = (await request<unknown>('POST', url, { body: body as never, idempotencyKey: key })).data
    // Most actions answer the changed order; some (dispatch) answer something else: the caller reloads.
    return isWorkOrder(data) ? data : (null as unknown as WorkOrder)
  })
}

export async function uploadAttachment(
  woId: string,
  file: Blob,
  filename: string,
  kind: 'photo' | 'video' | 'file' | 'signature' | null,
  label: string | null,
  queueable = false,
): Promise<Outcome<Attachment>> {
  const fields: Record<string, string> = {}
  if (kind) fields.kind = kind
  if (label) fields.label = label
  const url = `${woUrl(woId)}/attachments`
  return viaQueue(queueable, { url, file, filename, fields, woId, label: 'upload' }, async (key) => {
    const form = new FormData()
    form.append('file', file, filename)
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    const att = (await request<Attachment>('POST', url, { form, idempotencyKey: key })).data
    // An attachment changes the order's version: learn the new ETag before the next action.
    await request('GET', woUrl(woId)).catch(() => undefined)
    return att
  })
}

export async function reportException(woId: string, kind: ExceptionKind, note: string | null, queueable = false): Promise<Outcome<ExceptionReport>> {
  const url = `${woUrl(woId)}/exceptions`
  const body = { kind, note }
  return viaQueue(queueable, { url, body, woId, label: 'exception' }, async (key) =>
    (await request<ExceptionReport>('POST', url, { body: body as never, idempotencyKey: key })).data,
  )
}
