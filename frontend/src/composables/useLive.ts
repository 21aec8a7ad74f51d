import { onBeforeUnmount, onMounted } from 'vue'
import { onLiveTypes, type LiveEvent } from '@/api/live'

/**
 * Run `handler` for live events of the given types while the component is mounted. Bursts are
 * coalesced: the handler gets the events of the last `debounceMs` at once (a console reloads once
 * for twenty changes, not twenty times).
 */
export function useLive(prefixes: string[], handler: (events: LiveEvent[]) => void, debounceMs = 400): void {
  let off: (() => void) | null = null
  let pending: LiveEvent[] = []
  let timer: number | undefined
  onMounted(() => {
    off = onLiveTypes(prefixes, (e) => {
      pending.push(e)
      if (timer === undefined) {
        timer = window.setTimeout(() => {
          const batch = pending
          pending = []
          timer = undefined
          handler(batch)
        }, debounceMs)
      }
    })
  })
  onBeforeUnmount(() => {
    off?.()
    if (timer !== undefined) clearTimeout(timer)
  })
}

/** The work-order id an event is about, if any. */
export function eventOrderId(e: LiveEvent): string | null {
  const id = e.data.work_order_id
  return typeof id === 'string' ? id : null
}
