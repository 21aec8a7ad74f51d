/** One work order with what its screens show: audit trail, attachments and its service type's rules. */
import { computed, ref, shallowRef, type Ref } from 'vue'
import { api, request } from '@/api/client'
import { eventOrderId, useLive } from './useLive'
import type { Attachment, Audit, ChecklistItem, PhotoItem, ServiceType, WorkOrder } from '@/api/types'

export function useWorkOrder(id: Ref<string>, opts: { timeline?: boolean; live?: boolean } = {}) {
  const wo = shallowRef<WorkOrder | null>(null)
  const timeline = shallowRef<Audit[]>([])
  const attachments = shallowRef<Attachment[]>([])
  const stype = shallowRef<ServiceType | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)

  async function loadSide() {
    const wid = id.value
    const jobs: Promise<unknown>[] = [
      api.get('/api/v1/work-orders/{work_order_id}/attachments', { path: { work_order_id: wid } }).then((x) => (attachments.value = x)),
    ]
    if (opts.timeline !== false)
      jobs.push(api.get('/api/v1/work-orders/{work_order_id}/timeline', { path: { work_order_id: wid } }).then((x) => (timeline.value = x)))
    await Promise.all(jobs)
  }

  async function reload() {
    loading.value = true
    error.value = null
    try {
      const r = await request<WorkOrder>('GET', `/api/v1/work-orders/${id.value}`)
      wo.value = r.data
      await loadSide()
      if (!stype.value || stype.value.id !== r.data.service_type_id) {
        try {
          stype.value = await api.get('/api/v1/service-types/{service_type_id}', { path: { service_type_id: r.data.service_type_id } })
        } catch {
          stype.value = null
        }
      }
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  /** After an action: take the returned order (it carries the new ETag already) and refresh the rest. */
  async function replace(next: WorkOrder | null) {
    if (next) {
      wo.value = next
      await loadSide().catch(() => undefined)
    } else await reload()
  }

  const checklist = computed(() => ((stype.value?.effective?.checklist_template ?? stype.value?.checklist_template ?? []) as ChecklistItem[]))
  const requiredPhotos = computed(() => ((stype.value?.effective?.required_photos ?? stype.value?.required_photos ?? []) as PhotoItem[]))
  // Live: someone else changed this order (status, assignment, notes): show it without a refresh.
  if (opts.live !== false)
    useLive(['work_order.', 'comment.', 'sla.', 'reset'], (events) => {
      if (events.some((e) => e.type === 'reset' || eventOrderId(e) === id.value)) void reload()
    })

  return { wo, timeline, attachments, stype, checklist, requiredPhotos, loading, error, reload, replace }
}
