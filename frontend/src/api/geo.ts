/**
 * Location sharing from the technician's phone: the browser's geolocation, batched every 10 s
 * to POST /api/v1/tracking/points. Points taken offline wait in local storage (at most a day's
 * worth) and go with the next batch; the server drops points taken off shift, so nothing is kept
 * when the technician is not working.
 */
import { reactive } from 'vue'
import { ApiError, request } from './client'

export interface GeoPoint {
  lat: number
  lng: number
  accuracy_m: number | null
  speed_mps: number | null
  heading: number | null
  recorded_at: string
  /** Stable id per fix, so a retried batch is recognised as the same points (POST /tracking/points) */
  client_id?: string
}

const BUFFER = 'fieldops.geo.buffer'
const DEVICE = 'fieldops.geo.device'
const MAX_BUFFER = 8640 // one point every 10 s for a day
const SEND_EVERY_MS = 10000
const MIN_GAP_MS = 5000
/** A fix this far from the last kept one is kept after MIN_MOVE_GAP_MS already (the path's shape when moving fast). */
const MOVE_M = 30
const MIN_MOVE_GAP_MS = 1000

export const geoState = reactive({
  supported: typeof navigator !== 'undefined' && 'geolocation' in navigator,
  active: false,
  denied: false,
  lastSentAt: null as string | null,
  /** The latest fix seen (kept or not) */
  lastFix: null as GeoPoint | null,
  pending: 0,
  lastError: null as string | null,
})

let watchId: number | null = null
/** The last fix put in the buffer (the buffer may have been sent since). */
let lastKept: GeoPoint | null = null
let timer: number | undefined
let sending = false

function deviceId(): string {
  let id = localStorage.getItem(DEVICE)
  if (!id) {
    id = `web-${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`
    localStorage.setItem(DEVICE, id)
  }
  return id
}

function readBuffer(): GeoPoint[] {
  try {
    return JSON.parse(localStorage.getItem(BUFFER) ?? '[]') as GeoPoint[]
  } catch {
    return []
  }
}

function writeBuffer(points: GeoPoint[]): void {
  const kept = points.slice(-MAX_BUFFER)
  localStorage.setItem(BUFFER, JSON.stringify(kept))
  geoState.pending = kept.length
}

function metres(a: GeoPoint, b: GeoPoint): number {
  const r = 6371000
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLng = (b.lng - a.lng) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(h)))
}

function onFix(pos: GeolocationPosition): void {
  const c = pos.coords
  const p: GeoPoint = {
    lat: c.latitude,
    lng: c.longitude,
    accuracy_m: Number.isFinite(c.accuracy) ? c.accuracy : null,
    speed_mps: c.speed !== null && Number.isFinite(c.speed) ? c.speed : null,
    heading: c.heading !== null && Number.isFinite(c.heading) ? c.heading : null,
    recorded_at: new Date(pos.timestamp || Date.now()).toISOString(),
  }
  p.client_id = `${p.recorded_at}/${p.lat.toFixed(6)},${p.lng.toFixed(6)}`
  geoState.lastFix = p
  const buf = readBuffer()
  const last = buf[buf.length - 1] ?? lastKept
  // Watchers can fire several times a second; one point per few seconds is plenty, unless the phone
  // moved a good way since the last one kept (then the path keeps its shape).
  if (last) {
    const gap = new Date(p.recorded_at).getTime() - new Date(last.recorded_at).getTime()
    if (gap < MIN_MOVE_GAP_MS || (gap < MIN_GAP_MS && metres(last, p) < MOVE_M)) return
  }
  lastKept = p
  buf.push(p)
  writeBuffer(buf)
}

/** Send what is buffered; keeps the points if the server cannot be reached. */
export async function sendPoints(): Promise<void> {
  if (sending) return
  const buf = readBuffer()
  if (!buf.length) return
  sending = true
  const batch = buf.slice(0, 500)
  try {
    await request('POST', '/api/v1/tracking/points', {
      body: { device_id: deviceId(), points: batch } as never,
      idempotencyKey: false,
    })
    writeBuffer(readBuffer().slice(batch.length))
    geoState.lastSentAt = new Date().toISOString()
    geoState.lastError = null
  } catch (e) {
    // Offline or rate limited: try again with the next batch. A refusal of the whole batch
    // (e.g. 422 for a malformed one) drops it so a bad point cannot block the queue.
    if (e instanceof ApiError && !e.isNetwork && e.status !== 429 && e.status < 500) writeBuffer(readBuffer().slice(batch.length))
    geoState.lastError = (e as Error).message
  } finally {
    sending = false
  }
}

// A debug hook: send the buffered points now (browser tests post a walk in one batch).
declare global {
  interface Window {
    __foGeoFlush?: () => Promise<void>
    __foGeoState?: typeof geoState
  }
}
if (typeof window !== 'undefined') {
  window.__foGeoFlush = sendPoints
  window.__foGeoState = geoState
}

export function startTracking(): void {
  if (!geoState.supported || watchId !== null) return
  geoState.pending = readBuffer().length
  watchId = navigator.geolocation.watchPosition(
    (pos) => {
      geoState.active = true
      geoState.denied = false
      onFix(pos)
    },
    (err) => {
      if (err.code === err.PERMISSION_DENIED) {
        geoState.denied = true
        geoState.active = false
      }
    },
    { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 },
  )
  timer = window.setInterval(() => void sendPoints(), SEND_EVERY_MS)
}

export function stopTracking(): void {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId)
  watchId = null
  clearInterval(timer)
  timer = undefined
  geoState.active = false
  void sendPoints()
}
