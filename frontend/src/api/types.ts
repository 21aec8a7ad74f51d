/** Short names for the generated schema types, plus the wire vocabularies the UI needs. */
import type { components } from './schema'

type S = components['schemas']

export type WorkOrder = S['WorkOrderRead']
export type WorkOrderCreate = S['WorkOrderCreate']
export type WorkOrderUpdate = S['WorkOrderUpdate']
export type MapPoint = S['MapPoint']
export type MapPoints = S['MapPoints']
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
export type DispatchDecision = S['DecisionRead']
export type DispatchCandidate = S['CandidateRead']
export type PoolOffer = S['PoolOfferRead']
export type DispatchPolicy = S['PolicyRead']
export type DispatchPolicyBody = S['PolicyBody']
export type DispatchPlan = S['PlanRead']
export type PlanApplyResult = S['PlanApplyResult']

/** One candidate inside a decision's explanation (chosen, alternatives, rejected). */
export interface ExplainedCandidate {
  technician_id: string
  technician_name: string
  feasible?: boolean
  reasons?: string[]
  detail?: string
  score: number | null
  breakdown: Record<string, number>
  start: string | null
  travel_added_min: number | null
  evicts?: string[]
}
export interface Explanation {
  chosen?: ExplainedCandidate | null
  alternatives?: ExplainedCandidate[]
  rejected?: ExplainedCandidate[]
  evicted?: string[]
  reason?: string | null
  mode?: string
  manual_check?: ExplainedCandidate | null
}
export interface PlanStop { work_order_id: string; number: string; start: string | null; end: string | null; travel_min: number }
export interface PlanRoute { technician_id: string; technician_name: string; travel_min: number; stops: PlanStop[] }
export interface PlanMetrics { travel_min: number; late_jobs: number; jobs_per_technician: Record<string, number>; served?: number; unassigned?: number }
export interface PlanResult { routes?: PlanRoute[]; unassigned?: { work_order_id: string; number: string; reason: string }[] }
export interface PlanSummary { before?: PlanMetrics; after?: PlanMetrics; jobs?: number; technicians?: number; solver?: string; elapsed_s?: number }

export const DISPATCH_REASONS = ['skill', 'certificate', 'off_shift', 'on_leave', 'territory', 'radius', 'daily_cap', 'blocked', 'rejected', 'unreachable', 'inactive'] as const
export const DISPATCH_MODES = ['nearest', 'least_loaded', 'round_robin', 'best_score', 'optimized'] as const
export const WEIGHT_TERMS = ['travel', 'load', 'sla_slack', 'priority', 'quality', 'speed', 'preference'] as const

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

/** A planned route on a map: a polyline through the points in visiting order (the first is the start). */
export interface MapRoute {
  name: string
  color: string
  points: [number, number][]
}

export const ROUTE_COLORS = ['#1f5fa8', '#d03050', '#3f9142', '#7c3aed', '#e6a23c', '#0e9f9a', '#b88230', '#c45656', '#2b6cb0', '#6b7280']
