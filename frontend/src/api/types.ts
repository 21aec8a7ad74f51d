/** Short names for the generated schema types, plus the wire vocabularies the UI needs. */
import type { components } from './schema'

type S = components['schemas']

export type WorkOrder = S['WorkOrderRead']
export type WorkOrderCreate = S['WorkOrderCreate']
export type WorkOrderUpdate = S['WorkOrderUpdate']
export type Audit = S['AuditRead']
export type Attachment = S['AttachmentRead']
export type User = S['UserRead']
export type UserCreate = S['UserCreate']
export type Technician = S['TechnicianRead']
export type TechnicianDetail = S['TechnicianDetail']
export type Customer = S['CustomerRead']
export type Site = S['SiteRead']
export type ServiceType = S['ServiceTypeRead']
export type Skill = S['SkillRead']
export type CertificateType = S['CertificateTypeRead']
export type Territory = S['TerritoryRead']
export type Org = S['OrgRead']
export type TokenPair = S['TokenPair']
export type PartLine = S['PartLine']
export type ChecklistItem = S['ChecklistItem']
export type PhotoItem = S['PhotoItem']
export type ExceptionReport = S['ExceptionRead']
export type ExceptionKind = S['ExceptionCreate']['kind']

export interface Page<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

export const STATUSES = [
  'new', 'assigned', 'accepted', 'en_route', 'on_site', 'in_progress', 'awaiting_acceptance',
  'completed', 'closed', 'on_hold', 'cancelled',
] as const
export type Status = (typeof STATUSES)[number]

export const PRIORITIES = ['P0', 'P1', 'P2', 'P3'] as const
export type Priority = (typeof PRIORITIES)[number]

export const ROLES = ['admin', 'supervisor', 'dispatcher', 'agent', 'technician', 'customer', 'finance'] as const
export type Role = (typeof ROLES)[number]

export const EXCEPTION_KINDS: ExceptionKind[] = ['material_shortage', 'equipment_failure', 'customer_absent', 'other']
export const HOLD_REASONS = ['waiting_customer', 'waiting_parts', 'other'] as const

/** Actions whose body needs a reason (mirrors work_orders.rules; the server has the last word). */
export const REASON_REQUIRED = new Set(['reject', 'refuse', 'hold', 'cancel', 'reopen', 'request-transfer', 'decline-transfer', 'unassign'])

/** Colours by status (map markers, tags, timeline items). */
export const STATUS_COLOR: Record<Status, string> = {
  new: '#909399',
  assigned: '#e6a23c',
  accepted: '#b88230',
  en_route: '#409eff',
  on_site: '#2b6cb0',
  in_progress: '#7c3aed',
  awaiting_acceptance: '#0e9f9a',
  completed: '#67c23a',
  closed: '#3f6212',
  on_hold: '#c45656',
  cancelled: '#a8abb2',
}

export const PRIORITY_COLOR: Record<Priority, string> = { P0: '#d03050', P1: '#e6a23c', P2: '#409eff', P3: '#909399' }
