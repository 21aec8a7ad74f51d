/** Hand-written shapes of the tracking API (src/fieldops/tracking/schemas.py). */

export interface TrackPosition {
  technician_id: string
  technician_name?: string | null
  lat: number
  lng: number
  accuracy_m: number | null
  speed_mps?: number | null
  heading?: number | null
  recorded_at: string
  device_id?: string
  age_s: number
  stale: boolean
}

export interface PositionList {
  items: TrackPosition[]
  total: number
  stale_after_s: number
}

export interface WorkOrderTechnicianPosition {
  work_order_id: string
  technician_id: string | null
  available: boolean
  position: TrackPosition | null
}

export interface TracePoint {
  lat: number
  lng: number
  recorded_at: string
  accuracy_m?: number | null
}

export interface TraceStop {
  lat: number
  lng: number
  arrived_at: string
  left_at: string
  duration_s: number
  points: number
}

export interface DayDistance {
  technician_id: string
  day: string
  distance_m: number
  points: number
}

export interface TraceRead {
  technician_id: string
  from: string
  to: string
  points_total: number
  truncated: boolean
  distance_m: number
  path: TracePoint[]
  stops: TraceStop[]
  days: DayDistance[]
}

export interface Geofence {
  id: string
  name: string
  category: string
  kind: 'circle' | 'polygon'
  lat: number | null
  lng: number | null
  radius_m: number | null
  geometry: Record<string, unknown> | null
  properties: Record<string, unknown>
  active: boolean
  version: number
  created_at: string
  updated_at: string
}

export interface GeofenceEvent {
  id: string
  technician_id: string
  fence_type: string
  fence_id: string
  fence_name: string
  work_order_id: string | null
  event: string
  at: string
  lat: number
  lng: number
  accuracy_m: number | null
  distance_m: number | null
}

export interface TrackingAlert {
  id: string
  kind: string
  work_order_id: string | null
  technician_id: string | null
  raised_at: string
  data: Record<string, unknown>
}

export interface PageOf<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

/** The live `technician.position` event's data. */
export interface LivePosition {
  technician_id: string
  lat: number
  lng: number
  accuracy_m: number | null
  recorded_at: string
}

/** A shape drawn on the geofence map, before it is saved. */
export type DrawnShape =
  | { kind: 'circle'; lat: number; lng: number; radius_m: number }
  | { kind: 'polygon'; geometry: Record<string, unknown> }
