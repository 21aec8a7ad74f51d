/**
 * Live updates: one server-sent-event stream per signed-in tab (GET /api/v1/live/stream).
 *
 * The server filters events by the same visibility rules as the REST API. Every event has an
 * increasing id; on a reconnect we send the last one as Last-Event-ID and the server replays what
 * we missed. A `reset` event means the gap was too old to replay: listeners reload everything.
 */
import { fetchEventSource, EventStreamContentType } from '@microsoft/fetch-event-source'
import { reactive } from 'vue'
import { authHeaders, refreshTokens } from './client'

export interface LiveEvent {
  id: number
  type: string
  data: Record<string, unknown>
}

type Listener = (e: LiveEvent) => void

const listeners = new Set<Listener>()
export const liveState = reactive({ connected: false, lastId: 0, received: 0 })

let controller: AbortController | null = null
const LAST_ID = 'fieldops.live.last'

class Fatal extends Error {}

/** Call `fn` for every live event until the returned function is called. */
export function onLive(fn: Listener): () => void {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

/** Only events of these types (prefix match: 'work_order.' matches every work-order event). */
export function onLiveTypes(prefixes: string[], fn: Listener): () => void {
  return onLive((e) => {
    if (e.type === 'reset' || prefixes.some((p) => e.type === p || (p.endsWith('.') && e.type.startsWith(p)))) fn(e)
  })
}

function emit(e: LiveEvent): void {
  liveState.received += 1
  for (const fn of [...listeners]) {
    try {
      fn(e)
    } catch (err) {
      console.error('live listener failed', err)
    }
  }
}

/** Open the stream (idempotent). Reconnects by itself with back-off until `stopLive()`. */
export function startLive(): void {
  if (controller) return
  const ctl = new AbortController()
  controller = ctl
  const saved = Number(sessionStorage.getItem(LAST_ID) ?? '0')
  if (saved > liveState.lastId) liveState.lastId = saved
  let retry = 1000
  void fetchEventSource('/api/v1/live/stream', {
    signal: ctl.signal,
    openWhenHidden: true,
    headers: {},
    fetch: (input, init) => {
      // Fresh headers on every (re)connect: the token may have been refreshed in between.
      const headers: Record<string, string> = { ...authHeaders(), Accept: EventStreamContentType }
      if (liveState.lastId) headers['Last-Event-ID'] = String(liveState.lastId)
      return fetch(input, { ...init, headers })
    },
    async onopen(r) {
      if (r.ok && (r.headers.get('content-type') ?? '').includes(EventStreamContentType)) {
        liveState.connected = true
        retry = 1000
        return
      }
      if (r.status === 401 && (await refreshTokens())) throw new Error('token refreshed')
      if (r.status === 401 || r.status === 403) throw new Fatal('not allowed')
      throw new Error(`live stream: ${r.status}`)
    },
    onmessage(m) {
      if (!m.event && !m.data) return // keep-alive
      const id = Number(m.id)
      if (Number.isFinite(id) && id > 0) {
        liveState.lastId = id
        sessionStorage.setItem(LAST_ID, String(id))
      }
      let data: Record<string, unknown> = {}
      try {
        data = m.data ? (JSON.parse(m.data) as Record<string, unknown>) : {}
      } catch {
        data = {}
      }
      emit({ id, type: m.event || 'message', data })
    },
    onclose() {
      liveState.connected = false
      throw new Error('closed') // reconnect
    },
    onerror(err) {
      liveState.connected = false
      if (err instanceof Fatal) throw err // stop
      retry = Math.min(retry * 2, 30000)
      return retry
    },
  }).catch(() => {
    liveState.connected = false
    if (controller === ctl) controller = null
  })
}

export function stopLive(): void {
  controller?.abort()
  controller = null
  liveState.connected = false
  liveState.lastId = 0
  sessionStorage.removeItem(LAST_ID)
}
