import { computed, ref } from 'vue'
import { useI18n } from 'vue-i18n'

const policy = ref<Record<string, string> | null>(null)
let loading: Promise<void> | null = null

/** The server's password rules (GET /auth/password-policy) in the UI language. */
export function usePasswordPolicy() {
  const { locale } = useI18n()
  loading ??= fetch('/api/v1/auth/password-policy')
    .then((r) => (r.ok ? r.json() : null))
    .then((p) => void (policy.value = p))
    .catch(() => undefined)
  return computed(() => policy.value?.[locale.value] ?? policy.value?.en ?? '')
}
