import { ref, shallowRef, type Ref } from 'vue'

/**
 * Loading / error / data state for one async source, so every screen can show loading, empty and
 * error states (with the server's message) instead of a blank page.
 */
export function useLoad<T>(fn: () => Promise<T>, opts: { immediate?: boolean } = {}) {
  const data = shallowRef<T | null>(null) as Ref<T | null>
  const loading = ref(false)
  const error = ref<string | null>(null)
  let seq = 0

  async function reload(): Promise<T | null> {
    const mine = ++seq
    loading.value = true
    error.value = null
    try {
      const value = await fn()
      if (mine === seq) data.value = value
      return value
    } catch (e) {
      if (mine === seq) error.value = (e as Error).message || String(e)
      return null
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  if (opts.immediate !== false) void reload()
  return { data, loading, error, reload }
}
