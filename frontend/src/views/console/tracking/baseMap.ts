/**
 * Shared bits of the tracking maps (playback, geofences, the customer's mini map): a Leaflet map whose
 * tiles come from GET /config `map_tile_url`, as in JobsMap. With no tile URL, or when the tiles fail,
 * the map keeps a plain background (the `.plain` class of the container) and still shows every layer.
 */
import { ref, type Ref } from 'vue'
import L from 'leaflet'
import 'leaflet/dist/leaflet.css'
import { useConfig } from '@/composables/catalog'
import { dayInZone, zonedHour } from '@/composables/format'

export type TilesState = 'none' | 'ok' | 'failed'

export interface BaseMap {
  map: L.Map
  tiles: Ref<TilesState>
}

/** A map in `el` (Boston by default until something is fitted); tiles are added once the config is known,
 * and `tiles` tells whether they show (the caller greys the container's background when they do not). */
export function createBaseMap(
  el: HTMLElement,
  opts: L.MapOptions = {},
  center: L.LatLngExpression = [42.33, -71.07],
  zoom = 12,
  tiles: Ref<TilesState> = ref<TilesState>('none'),
): BaseMap {
  const map = L.map(el, { zoomControl: true, attributionControl: false, zoomSnap: 0.25, ...opts }).setView(center, zoom)
  void useConfig().then(({ map_tile_url }) => {
    if (!map_tile_url || !(map as L.Map & { _loaded?: boolean })._loaded) return
    let ok = 0
    let failed = 0
    const layer = L.tileLayer(map_tile_url, { maxZoom: 19 })
    layer.on('tileload', () => {
      ok++
      tiles.value = 'ok'
    })
    layer.on('tileerror', () => {
      failed++
      if (!ok && failed >= 4) tiles.value = 'failed'
    })
    try {
      layer.addTo(map)
      layer.bringToBack()
    } catch {
      /* the map was removed meanwhile */
    }
  })
  return { map, tiles }
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Seconds → "2 min" style parts for `tracking.ago*` messages. */
export function ageParts(seconds: number): { key: 'agoSeconds' | 'agoMinutes' | 'agoHours' | 'agoDays'; n: number } {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return { key: 'agoSeconds', n: s }
  if (s < 3600) return { key: 'agoMinutes', n: Math.floor(s / 60) }
  if (s < 86400) return { key: 'agoHours', n: Math.floor(s / 3600) }
  return { key: 'agoDays', n: Math.floor(s / 86400) }
}

/** Metres → "850 m" / "12.3 km". */
export function fmtDistance(m: number): string {
  if (!Number.isFinite(m)) return '—'
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`
}

/** The start of the day of `at` in a time zone. */
export function startOfDay(zone: string, at = new Date()): Date {
  return zonedHour(dayInZone(at, zone), 0, zone)
}
