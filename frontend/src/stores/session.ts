import { defineStore } from 'pinia'
import { api, configureClient } from '@/api/client'
import type { Org, Role, User } from '@/api/types'
import { applyLocale, currentLocale, t, type Locale } from '@/i18n'

const TOKENS = 'fieldops.tokens'
const USER = 'fieldops.user'

interface Tokens {
  access: string
  refresh: string
}

function loadTokens(): Tokens | null {
  try {
    const raw = localStorage.getItem(TOKENS)
    return raw ? (JSON.parse(raw) as Tokens) : null
  } catch {
    return null
  }
}

export const STAFF: Role[] = ['admin', 'supervisor', 'dispatcher', 'agent', 'finance']
export const MANAGERS: Role[] = ['admin', 'supervisor', 'dispatcher']

export const useSession = defineStore('session', {
  state: () => ({
    tokens: loadTokens(),
    user: null as User | null,
    org: null as Org | null,
    locale: currentLocale() as Locale,
    expired: false,
  }),
  getters: {
    signedIn: (s) => !!s.tokens,
    role: (s) => (s.user?.role ?? null) as Role | null,
    isStaff(): boolean {
      return !!this.role && STAFF.includes(this.role)
    },
    isManager(): boolean {
      return !!this.role && MANAGERS.includes(this.role)
    },
    home(): string {
      if (this.role === 'technician') return '/tech'
      if (this.role === 'customer') return '/portal'
      return '/console'
    },
    timezone: (s) => s.org?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  },
  actions: {
    setTokens(access: string, refresh: string) {
      this.tokens = { access, refresh }
      localStorage.setItem(TOKENS, JSON.stringify(this.tokens))
    },
    clear() {
      this.tokens = null
      this.user = null
      this.org = null
      localStorage.removeItem(TOKENS)
      localStorage.removeItem(USER)
    },
    /** Without a connection, carry on as the user last seen (a technician's phone reloading offline). */
    restoreOffline(): boolean {
      try {
        const saved = JSON.parse(localStorage.getItem(USER) ?? 'null') as { user: User; org: Org | null } | null
        if (!saved || !this.tokens) return false
        this.user = saved.user
        this.org = saved.org
        return true
      } catch {
        return false
      }
    },
    async login(username: string, password: string) {
      const pair = await api.post('/api/v1/auth/login', { body: { username, password } })
      this.setTokens(pair.access_token, pair.refresh_token)
      this.expired = false
      await this.loadMe(true)
    },
    async signedUp(access: string, refresh: string) {
      this.setTokens(access, refresh)
      await this.loadMe(true)
    },
    /** Load the signed-in user; on sign-in their saved language wins over the browser's. */
    async loadMe(adoptLocale = false) {
      this.user = await api.get('/api/v1/auth/me')
      if (adoptLocale && (this.user.locale === 'en' || this.user.locale === 'zh-CN') && this.user.locale !== this.locale) {
        this.locale = this.user.locale
        applyLocale(this.user.locale)
      }
      try {
        this.org = await api.get('/api/v1/organizations/current')
      } catch {
        this.org = null
      }
      localStorage.setItem(USER, JSON.stringify({ user: this.user, org: this.org }))
    },
    async logout() {
      const refresh = this.tokens?.refresh
      try {
        if (this.tokens) await api.post('/api/v1/auth/logout', { body: { refresh_token: refresh ?? null } })
      } catch {
        /* signing out locally is enough */
      }
      this.clear()
    },
    /** Switch the UI language; remembered for the user on the server when signed in. */
    async setLocale(loc: Locale) {
      this.locale = loc
      applyLocale(loc)
      if (this.user && this.user.locale !== loc) {
        try {
          this.user = await api.patch('/api/v1/auth/me', { body: { locale: loc }, ifMatch: false })
        } catch {
          /* the choice still applies in this browser */
        }
      }
    },
  },
})

/** Wire the API client to the session (called once at start-up). */
export function connectClient(session: ReturnType<typeof useSession>, onExpired: () => void): void {
  configureClient({
    language: () => session.locale,
    accessToken: () => session.tokens?.access ?? null,
    refreshToken: () => session.tokens?.refresh ?? null,
    onTokens: (a, r) => session.setTokens(a, r),
    onSessionExpired: () => {
      session.clear()
      session.expired = true
      onExpired()
    },
    text: (key, params) => t(`errors.${key}`, params),
  })
}
