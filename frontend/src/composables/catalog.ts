/** Reference data shared by several screens, loaded once per session. */
import { ref } from 'vue'
import { api } from '@/api/client'
import type { ServiceType, Technician, Territory } from '@/api/types'
import { localName } from '@/i18n'

const serviceTree = ref<ServiceType[]>([])
const serviceById = new Map<string, ServiceType>()
let serviceLoading: Promise<void> | null = null

function index(nodes: ServiceType[]) {
  for (const n of nodes) {
    serviceById.set(n.id, n)
    if (n.children) index(n.children)
  }
}

export function useServiceTypes(force = false) {
  if (force || (!serviceLoading && !serviceTree.value.length)) {
    serviceLoading = (async () => {
      const page = await api.get('/api/v1/service-types', { query: { tree: true, limit: 100, active: true } })
      serviceById.clear()
      index(page.items)
      serviceTree.value = page.items
    })()
      .catch(() => undefined)
      .finally(() => (serviceLoading = null))
  }
  return {
    tree: serviceTree,
    ready: () => serviceLoading ?? Promise.resolve(),
    name: (id: string | null | undefined) => (id ? localName(serviceById.get(id)) : ''),
    byId: (id: string) => serviceById.get(id),
  }
}

const techs = ref<Technician[]>([])
let techLoading: Promise<void> | null = null

/** Every active technician (staff only). */
export function useTechnicians(force = false) {
  if (force || (!techLoading && !techs.value.length)) {
    techLoading = (async () => {
      const all: Technician[] = []
      for (let offset = 0; offset < 1000; offset += 100) {
        const page = await api.get('/api/v1/technicians', { query: { limit: 100, offset, active: true } })
        all.push(...page.items)
        if (all.length >= page.total || !page.items.length) break
      }
      techs.value = all
    })()
      .catch(() => undefined) // customers and technicians may not list technicians
      .finally(() => (techLoading = null))
  }
  return {
    list: techs,
    ready: () => techLoading ?? Promise.resolve(),
    name: (id: string | null | undefined) => techs.value.find((x) => x.id === id)?.name ?? '',
  }
}

const territories = ref<Territory[]>([])
let terrLoading: Promise<void> | null = null
export function useTerritories() {
  if (!terrLoading && !territories.value.length) {
    terrLoading = api
      .get('/api/v1/territories', { query: { limit: 100 } })
      .then((p) => void (territories.value = p.items))
      .catch(() => undefined)
      .finally(() => (terrLoading = null))
  }
  return { list: territories, name: (id: string | null | undefined) => territories.value.find((x) => x.id === id)?.name ?? '' }
}

let configPromise: Promise<{ map_tile_url: string }> | null = null
/** GET /config (public): the map tile URL template, empty for a plain background. */
export function useConfig(): Promise<{ map_tile_url: string }> {
  configPromise ??= fetch('/api/v1/config')
    .then((r) => (r.ok ? r.json() : { map_tile_url: '' }))
    .catch(() => ({ map_tile_url: '' }))
  return configPromise
}
