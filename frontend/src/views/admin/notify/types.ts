/** Hand-written shapes of the notifications admin API (src/fieldops/notifications/schemas.py). */
import { ApiError } from '@/api/client'

export const EXTERNAL = ['email', 'sms', 'wecom', 'dingtalk', 'webhook'] as const
export type External = (typeof EXTERNAL)[number]
export const DELIVERY_CHANNELS = ['email', 'sms', 'wecom', 'dingtalk', 'webhook'] as const
export const DELIVERY_STATUSES = ['pending', 'sending', 'sent', 'failed'] as const
/** Write-only fields per channel, as the server names them in `secrets_set` and `clear_secrets`. */
export const SECRETS: Record<External, string[]> = {
  email: ['password'],
  sms: ['token'],
  wecom: ['webhook_url'],
  dingtalk: ['webhook_url', 'secret'],
  webhook: [],
}
export const EVENT_SUGGESTIONS = [
  'work_order.*', 'work_order.created', 'work_order.assigned', 'work_order.accepted', 'work_order.checked_in',
  'work_order.work_completed', 'work_order.closed', 'work_order.cancelled', 'work_order.exception_reported',
  'sla.*', 'sla.warning', 'sla.breached', 'sla.escalated', 'sla.met', 'comment.created', 'technician.duty_status_changed',
]

export interface ChannelState {
  enabled: boolean
  mode: 'configured' | 'settings' | 'local'
  settings: Record<string, unknown>
  secrets_set: string[]
}

export interface ChannelsRead {
  channels: Record<string, ChannelState>
  version: number
}

export interface Webhook {
  id: string
  url: string
  description: string
  event_types: string[]
  active: boolean
  created_at: string
  version: number
}

export interface WebhookCreated extends Webhook {
  secret: string
}

export interface WebhookTestResult {
  notification_id: string
  ok: boolean
  response_code: number | null
  error: string | null
}

export interface Attempt {
  attempt: number
  started_at: string
  finished_at: string
  ok: boolean
  error: string | null
  response_code: number | null
  duration_ms: number
}

export interface Delivery {
  id: string
  channel: string
  recipient: string
  template: string | null
  subject: string
  status: string
  attempts: number
  last_error: string | null
  work_order_id: string | null
  created_at: string
  sent_at: string | null
  next_attempt_at: string | null
  attempt_log: Attempt[]
}

export function fieldErrors(e: unknown): { message: string; fields: Record<string, string> } {
  if (e instanceof ApiError) {
    const fields: Record<string, string> = {}
    for (const x of e.errors) {
      const f = x.field.replace(/\[(\d+)\]/g, '.$1')
      if (f && !fields[f]) fields[f] = x.message
    }
    return { message: e.message, fields }
  }
  return { message: String(e), fields: {} }
}

export function statusType(s: string): 'success' | 'danger' | 'warning' | 'info' {
  return s === 'sent' ? 'success' : s === 'failed' ? 'danger' : s === 'sending' ? 'warning' : 'info'
}
