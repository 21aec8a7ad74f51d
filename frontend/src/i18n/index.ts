import { createI18n } from 'vue-i18n'
import en from './en'
import zhCN from './zh-CN'

export type Locale = 'en' | 'zh-CN'
export const LOCALES: Locale[] = ['zh-CN', 'en']
const KEY = 'fieldops.locale'

/** The saved choice, else the browser's languages (any zh* → zh-CN), else English. */
export function initialLocale(): Locale {
  const saved = localStorage.getItem(KEY)
  if (saved === 'en' || saved === 'zh-CN') return saved
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language]
  for (const l of langs) {
    const low = (l || '').toLowerCase()
    if (low.startsWith('zh')) return 'zh-CN'
    if (low.startsWith('en')) return 'en'
  }
  return 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { en, 'zh-CN': zhCN },
  missingWarn: false,
  fallbackWarn: false,
})

export function currentLocale(): Locale {
  return i18n.global.locale.value as Locale
}

export function applyLocale(loc: Locale): void {
  i18n.global.locale.value = loc
  localStorage.setItem(KEY, loc)
  document.documentElement.lang = loc
}

/** Pick the name in the UI language from records with `name` / `name_zh`. */
export function localName(x: { name: string; name_zh?: string | null } | null | undefined): string {
  if (!x) return ''
  return currentLocale() === 'zh-CN' && x.name_zh ? x.name_zh : x.name
}

export const t = (key: string, params?: Record<string, unknown>): string => i18n.global.t(key, params ?? {})
