/**
 * A small typed fetch wrapper over the generated OpenAPI types (schema.d.ts).
 *
 * - adds the bearer token and refreshes it once on a 401 through /auth/refresh;
 * - remembers the ETag of every record it reads and sends it back as If-Match on changes
 *   (PATCH / PUT / DELETE and work-order action POSTs);
 * - sends an Idempotency-Key on POSTs (a retry of the same call reuses the same key);
 * - sends the UI language as Accept-Language, so the server's problem+json `detail` is localised;
 * - turns every failure into an ApiError whose `message` can be shown to a person as is.
 */
import type { paths } from './schema'

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'

type OpOf<P extends keyof paths, M extends Method> = paths[P] extends Record<M, infer O> ? O : never
export type PathsWith<M extends Method> = {
  [P in keyof paths]: OpOf<P, M> extends { responses: unknown } ? P : never
}[keyof paths]

type ParamsOf<O> = O extends { parameters: infer X } ? X : never
type PathParams<O> = ParamsOf<O> extends { path?: infer X } ? X : never
type QueryParams<O> = ParamsOf<O> extends { query?: infer X } ? X : never
type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never
type OkJson<O> = O extends { responses: infer R }
  ? R extends { 200: { content: { 'application/json': infer T } } }
    ? T
    : R extends { 201: { content: { 'application/json': infer T } } }
      ? T
      : R extends { 202: { content: { 'application/json': infer T } } }
        ? T
        : void
  : never

export interface CallOptions<O> {
  path?: PathParams<O>
  query?: QueryParams<O>
  body?: JsonBody<O>
  /** multipart body (uploads); replaces `body` */
  form?: FormData
  /** 'auto' (default for changes): the last ETag seen for the record; false: none; or an explicit value */
  ifMatch?: string | 'auto' | false
  /** Reused on retries; generated for POSTs when not given */
  idempotencyKey?: string | false
  signal?: AbortSignal
  /** Read the body as a Blob whatever its type (downloads, attachment content) */
  blob?: boolean
}

export interface FieldError {
  field: string
  message: string
}

/** A failure a person can read: `message` is the server's localised detail or our own text. */
export class ApiError extends Error {
  status: number
  code: string
  errors: FieldError[]
  retryAfter: number | null

  constructor(status: number, code: string, message: string, errors: FieldError[] = [], retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.errors = errors
    this.retryAfter = retryAfter
  }

  /** Field name → message, for showing next to form fields (`site_id`, `rating.quality`, …). */
  get fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const e of this.errors) if (e.field && !out[e.field]) out[e.field] = e.message
    return out
  }

  /** True when the request never reached the server (offline, DNS, connection refused). */
  get isNetwork(): boolean {
    return this.status === 0
  }
}

// ---- configuration supplied by the app (session store, i18n) -------------------------------------

export interface ClientHooks {
  language: () => string
  accessToken: () => string | null
  refreshToken: () => string | null
  onTokens: (access: string, refresh: string) => void
  onSessionExpired: () => void
  /** Texts for failures that carry no server message */
  text: (key: 'network' | 'server' | 'unexpected', params?: Record<string, unknown>) => string
}

let hooks: ClientHooks = {
  language: () => 'en',
  accessToken: () => null,
  refreshToken: () => null,
  onTokens: () => undefined,
  onSessionExpired: () => undefined,
  text: (key, params) => (key === 'network' ? 'Cannot reach the server.' : `Server error ${params?.status ?? ''}`),
}

/** The current bearer token and UI language (for callers outside `request`, e.g. the live stream). */
export function authHeaders(): Record<string, string> {
  const headers: Record<string, string> = { 'Accept-Language': hooks.language() }
  const token = hooks.accessToken()
  if (token) headers.Authorization = `Bearer ${token}`
  return headers
}

export function configureClient(h: Partial<ClientHooks>): void {
  hooks = { ...hooks, ...h }
}

// ---- ETags -----------------------------------------------------------------------------------------

const etags = new Map<string, string>()
// A record: /api/v1/<noun>/<id> or a nested collection's /api/v1/sla/policies/<id> (the first id wins).
const RECORD = /^(\/api\/v1\/(?:[a-z-]+\/){1,2}?(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|current|me))(?:\/|$)/
const WO_ACTION = /^\/api\/v1\/work-orders\/[0-9a-f-]{36}\/(accept|reject|depart|check-in|start|complete|confirm|refuse|close|hold|resume|cancel|reopen|request-transfer|approve-transfer|decline-transfer|assign|unassign|dispatch)$/

/** The record a URL belongs to: /api/v1/work-orders/{id}/accept → /api/v1/work-orders/{id}. */
export function recordKey(url: string): string | null {
  const m = RECORD.exec(url.split('?')[0])
  return m ? m[1] : null
}

export function rememberEtag(record: string, etag: string): void {
  etags.set(record, etag)
}

/** Seed the ETag of a record known from a list (lists carry `version`, not ETags). */
export function rememberVersion(record: string, version: number): void {
  if (!etags.has(record)) etags.set(record, `"${version}"`)
}

export function etagOf(record: string): string | undefined {
  return etags.get(record)
}

export function forgetEtag(record: string): void {
  etags.delete(record)
}

// ---- helpers ---------------------------------------------------------------------------------------

export function newKey(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  const b = new Uint8Array(16)
  c.getRandomValues(b)
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export function buildUrl(template: string, path?: object, query?: object): string {
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = (path as Record<string, unknown> | undefined)?.[name]
    if (v === undefined || v === null) throw new Error(`missing path parameter ${name}`)
    return encodeURIComponent(String(v))
  })
  if (query) {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue
      qs.append(k, Array.isArray(v) ? v.join(',') : String(v))
    }
    const s = qs.toString()
    if (s) url += `?${s}`
  }
  return url
}

function needsIfMatch(method: string, url: string): boolean {
  if (method === 'PATCH' || method === 'PUT') return true
  if (method === 'POST') return WO_ACTION.test(url.split('?')[0])
  return false
}

let refreshing: Promise<boolean> | null = null

/** Exchange the refresh token for a new pair once (concurrent callers share one exchange). */
export async function refreshTokens(): Promise<boolean> {
  const token = hooks.refreshToken()
  if (!token) return false
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept-Language': hooks.language() },
        body: JSON.stringify({ refresh_token: token }),
      })
      if (!r.ok) return false
      const pair = (await r.json()) as { access_token: string; refresh_token: string }
      hooks.onTokens(pair.access_token, pair.refresh_token)
      return true
    } catch {
      return false
    } finally {
      setTimeout(() => (refreshing = null), 0)
    }
  })()
  return refreshing
}

async function toError(r: Response): Promise<ApiError> {
  const retry = r.headers.get('Retry-After')
  const retryAfter = retry && /^\d+$/.test(retry) ? Number(retry) : null
  const ctype = r.headers.get('content-type') ?? ''
  if (ctype.includes('json')) {
    try {
      const p = (await r.json()) as {
        detail?: unknown
        title?: string
        code?: string
        errors?: { field?: string; message?: string }[]
      }
      const errors = (p.errors ?? []).map((e) => ({ field: String(e.field ?? ''), message: String(e.message ?? '') }))
      let message = typeof p.detail === 'string' && p.detail ? p.detail : p.title
      if (!message && errors.length) message = errors.map((e) => `${e.field}: ${e.message}`).join('; ')
      return new ApiError(r.status, p.code ?? `http_${r.status}`, message || hooks.text('server', { status: r.status }), errors, retryAfter)
    } catch {
      /* fall through: not JSON after all */
    }
  }
  return new ApiError(r.status, `http_${r.status}`, hooks.text('server', { status: r.status }), [], retryAfter)
}

export interface RawResult<T> {
  data: T
  status: number
  etag: string | null
  headers: Headers
}

/** One call: method + URL template with options. Exported for endpoints typed by hand. */
export async function request<T>(method: string, template: string, opts: CallOptions<unknown> = {}): Promise<RawResult<T>> {
  const url = buildUrl(template, opts.path as object | undefined, opts.query as object | undefined)
  const record = recordKey(url)
  const upper = method.toUpperCase()
  const idemKey =
    opts.idempotencyKey === false
      ? null
      : (opts.idempotencyKey ?? (upper === 'POST' && !url.startsWith('/api/v1/auth/') ? newKey() : null))

  let ifMatch: string | null = null
  if (opts.ifMatch === false) ifMatch = null
  else if (opts.ifMatch && opts.ifMatch !== 'auto') ifMatch = opts.ifMatch
  else if (needsIfMatch(upper, url) && record) {
    ifMatch = etags.get(record) ?? null
    if (!ifMatch) {
      // Never seen this record: read it once to learn its version.
      await request('GET', record, { signal: opts.signal })
      ifMatch = etags.get(record) ?? null
    }
  }

  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: 'application/json', 'Accept-Language': hooks.language() }
    const token = hooks.accessToken()
    if (token) headers.Authorization = `Bearer ${token}`
    if (ifMatch) headers['If-Match'] = ifMatch
    if (idemKey) headers['Idempotency-Key'] = idemKey
    let body: BodyInit | undefined
    if (opts.form) body = opts.form
    else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(opts.body)
    }
    try {
      return await fetch(url, { method: upper, headers, body, signal: opts.signal })
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e
      throw new ApiError(0, 'network', hooks.text('network'))
    }
  }

  let r = await send()
  if (r.status === 401 && !url.startsWith('/api/v1/auth/login') && hooks.refreshToken()) {
    if (await refreshTokens()) r = await send()
    else {
      const err = await toError(r)
      hooks.onSessionExpired()
      throw err
    }
    if (r.status === 401) hooks.onSessionExpired()
  }
  const etag = r.headers.get('ETag')
  // Only the record itself, or a change to it, carries its version (a file under it has its own ETag).
  if (etag && record && (url.split('?')[0] === record || needsIfMatch(upper, url))) etags.set(record, etag)
  if (!r.ok) throw await toError(r)
  let data: unknown = undefined
  if (r.status !== 204) {
    const ctype = r.headers.get('content-type') ?? ''
    if (opts.blob) data = await r.blob()
    else if (ctype.includes('json')) data = await r.json()
    else if (ctype.startsWith('text/')) data = await r.text()
    else data = await r.blob()
  }
  return { data: data as T, status: r.status, etag, headers: r.headers }
}

type Caller<M extends Method> = <P extends PathsWith<M>>(
  path: P,
  opts?: CallOptions<OpOf<P, M>>,
) => Promise<OkJson<OpOf<P, M>>>

function caller<M extends Method>(method: M): Caller<M> {
  return (async (path: string, opts?: CallOptions<unknown>) => (await request(method, path, opts)).data) as Caller<M>
}

/** The typed API: `api.get('/api/v1/work-orders/{work_order_id}', { path: { work_order_id } })`. */
export const api = {
  get: caller('get'),
  post: caller('post'),
  put: caller('put'),
  patch: caller('patch'),
  delete: caller('delete'),
}

/** Fetch a protected file (attachment content, export) as a Blob with the bearer token. */
export async function fetchBlob(url: string): Promise<Blob> {
  return (await request<Blob>('GET', url, { blob: true })).data
}
