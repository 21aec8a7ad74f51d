/**
 * The technician's offline queue.
 *
 * A change made while the phone has no connection (or whose request fails to reach the server) is
 * stored in IndexedDB with the Idempotency-Key it was first given, and sent, in order, when the
 * connection returns. Because every attempt carries the same key, a call that did reach the server
 * before the connection dropped is answered from the server's idempotency record and applied once.
 * Photos are stored as Blobs, so uploads queue too.
 */
import { reactive } from 'vue'
import { ApiError, forgetEtag, newKey, recordKey, request } from './client'

export interface QueuedCall {
  id: string
  seq: number
  url: string
  body?: unknown
  file?: Blob
  filename?: string
  fields?: Record<string, string>
  idemKey: string
  woId?: string
  /** e.g. the action name: 'accept', 'check-in', 'upload', 'exception' */
  label: string
  createdAt: string
  attempts: number
  lastError?: string
}

export interface Failure {
  label: string
  woId?: string
  message: string
  at: string
}

const DB = 'fieldops-offline'
const STORE = 'queue'
const memory = new Map<string, QueuedCall>() // used when IndexedDB is unavailable

export const offline = reactive({
  online: typeof navigator === 'undefined' ? true : navigator.onLine,
  items: [] as QueuedCall[],
  syncing: false,
  failures: [] as Failure[],
  /** bumps after each successful send, so screens can reload */
  syncedCount: 0,
})

type Listener = (call: QueuedCall, result: unknown) => void
const listeners = new Set<Listener>()
export function onSynced(fn: Listener): () => void {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

let dbPromise: Promise<IDBDatabase | null> | null = null
function db(): Promise<IDBDatabase | null> {
  dbPromise ??= new Promise((resolve) => {
    try {
      const req = indexedDB.open(DB, 1)
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'id' })
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => resolve(null)
    } catch {
      resolve(null)
    }
  })
  return dbPromise
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> {
  const d = await db()
  if (!d) return undefined
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode)
    const r = fn(t.objectStore(STORE))
    t.oncomplete = () => resolve(r.result)
    t.onerror = () => reject(t.error)
  })
}

async function loadAll(): Promise<QueuedCall[]> {
  const d = await db()
  const all = d ? ((await tx('readonly', (s) => s.getAll())) as QueuedCall[]) : [...memory.values()]
  return all.sort((a, b) => a.seq - b.seq)
}

async function save(call: QueuedCall): Promise<void> {
  if (await db()) await tx('readwrite', (s) => s.put(call))
  else memory.set(call.id, call)
}

async function remove(id: string): Promise<void> {
  if (await db()) await tx('readwrite', (s) => s.delete(id))
  else memory.delete(id)
}

export async function refreshQueue(): Promise<void> {
  offline.items = await loadAll()
}

/** Store a call for later; returns it (its idemKey is the one every attempt will send). */
export async function enqueue(call: Omit<QueuedCall, 'id' | 'seq' | 'createdAt' | 'attempts' | 'idemKey'> & { idemKey?: string }): Promise<QueuedCall> {
  const last = offline.items.at(-1)?.seq ?? 0
  const item: QueuedCall = {
    ...call,
    id: newKey(),
    idemKey: call.idemKey ?? newKey(),
    seq: Math.max(last + 1, Date.now()),
    createdAt: new Date().toISOString(),
    attempts: 0,
  }
  await save(item)
  await refreshQueue()
  return item
}

async function send(call: QueuedCall): Promise<unknown> {
  if (call.file) {
    const form = new FormData()
    form.append('file', call.file, call.filename ?? 'photo.jpg')
    for (const [k, v] of Object.entries(call.fields ?? {})) form.append(k, v)
    return (await request('POST', call.url, { form, idempotencyKey: call.idemKey })).data
  }
  return (await request('POST', call.url, { body: call.body as never, idempotencyKey: call.idemKey })).data
}

/** Send what is queued, oldest first; stops at the first call that cannot reach the server. */
export async function flush(): Promise<void> {
  if (offline.syncing) return
  offline.syncing = true
  try {
    await refreshQueue()
    for (const call of [...offline.items]) {
      try {
        let result: unknown
        try {
          result = await send(call)
        } catch (e) {
          // The order changed since we read it: learn its current version and try once more.
          if (e instanceof ApiError && e.status === 412) {
            const rec = recordKey(call.url)
            if (rec) forgetEtag(rec)
            result = await send(call)
          } else throw e
        }
        await remove(call.id)
        offline.syncedCount++
        listeners.forEach((fn) => fn(call, result))
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(0, 'network', String(e))
        if (err.isNetwork || err.status >= 500 || err.status === 429 || err.status === 401) {
          call.attempts++
          call.lastError = err.message
          await save(call)
          if (err.isNetwork) offline.online = false
          break // keep the order: later calls depend on this one
        }
        // The server refused it (state changed, not allowed, invalid): drop it and tell the user.
        offline.failures.push({ label: call.label, woId: call.woId, message: err.message, at: new Date().toISOString() })
        await remove(call.id)
      }
    }
  } finally {
    await refreshQueue()
    offline.syncing = false
  }
}

export function pendingFor(woId: string): QueuedCall[] {
  return offline.items.filter((c) => c.woId === woId)
}

/**
 * Register the service worker that keeps the app itself loadable without a connection (the built app
 * only: the dev server must stay uncached). Resolves once every file of the build is cached.
 */
export async function enableOfflineApp(): Promise<boolean> {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator) || !window.isSecureContext) return false
  try {
    await navigator.serviceWorker.register('/sw.js')
    await navigator.serviceWorker.ready
    return true
  } catch {
    return false
  }
}

let started = false
/** Listen for the connection coming back and retry periodically while something is queued. */
export function startOfflineSync(): void {
  if (started) return
  started = true
  window.addEventListener('online', () => {
    offline.online = true
    void flush()
  })
  window.addEventListener('offline', () => (offline.online = false))
  setInterval(() => {
    if (offline.items.length && navigator.onLine) void flush()
  }, 15000)
  void refreshQueue().then(() => {
    if (offline.items.length && navigator.onLine) void flush()
  })
}
