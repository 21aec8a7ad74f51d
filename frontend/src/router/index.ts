import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { ApiError } from '@/api/client'
import type { Role } from '@/api/types'
import { useSession, STAFF } from '@/stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    roles?: Role[]
    title?: string
  }
}

const ADMIN: Role[] = ['admin']
const routes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: { render: () => null } },
  { path: '/login', name: 'login', component: () => import('@/views/auth/LoginView.vue'), meta: { public: true, title: 'auth.signIn' } },
  { path: '/reset-password', name: 'reset', component: () => import('@/views/auth/ResetView.vue'), meta: { public: true, title: 'auth.resetTitle' } },
  { path: '/signup', name: 'signup', component: () => import('@/views/auth/SignupView.vue'), meta: { public: true, title: 'auth.signupTitle' } },
  {
    path: '/console',
    component: () => import('@/layouts/ConsoleLayout.vue'),
    meta: { roles: STAFF },
    children: [
      { path: '', name: 'console', component: () => import('@/views/console/DispatchConsole.vue'), meta: { title: 'nav.console' } },
      { path: 'orders/new', name: 'wo-new', component: () => import('@/views/console/WorkOrderNew.vue'), meta: { title: 'nav.newOrder', roles: ['admin', 'supervisor', 'dispatcher', 'agent'] } },
      { path: 'orders/:id', name: 'wo-detail', component: () => import('@/views/console/WorkOrderDetail.vue'), props: true, meta: { title: 'nav.workOrder' } },
      { path: 'admin/users', name: 'admin-users', component: () => import('@/views/admin/AdminUsers.vue'), meta: { title: 'nav.users', roles: ADMIN } },
      { path: 'admin/technicians', name: 'admin-techs', component: () => import('@/views/admin/AdminTechnicians.vue'), meta: { title: 'nav.technicians', roles: ['admin', 'supervisor'] } },
      { path: 'admin/service-types', name: 'admin-stypes', component: () => import('@/views/admin/AdminServiceTypes.vue'), meta: { title: 'nav.serviceTypes', roles: ADMIN } },
      { path: 'admin/dispatch-policy', name: 'admin-dispatch-policy', component: () => import('@/views/admin/AdminDispatchPolicy.vue'), meta: { title: 'nav.dispatchPolicy', roles: ADMIN } },
      { path: 'admin/sla', name: 'admin-sla', component: () => import('@/views/admin/AdminSla.vue'), meta: { title: 'nav.sla', roles: ADMIN } },
      { path: 'admin/notifications', name: 'admin-notifications', component: () => import('@/views/admin/AdminNotifications.vue'), meta: { title: 'nav.notifications', roles: ADMIN } },
      { path: 'admin/org', name: 'admin-org', component: () => import('@/views/admin/AdminOrg.vue'), meta: { title: 'nav.org', roles: ADMIN } },
      { path: 'admin/geofences', name: 'admin-geofences', component: () => import('@/views/admin/AdminGeofences.vue'), meta: { title: 'nav.geofences', roles: ADMIN } },
      { path: 'tracking/:technicianId?', name: 'tracking', component: () => import('@/views/console/tracking/TrackPlayback.vue'), props: true, meta: { title: 'nav.tracking', roles: ['admin', 'supervisor', 'dispatcher'] } },
    ],
  },
  {
    path: '/tech',
    component: () => import('@/layouts/MobileLayout.vue'),
    meta: { roles: ['technician'] },
    children: [
      { path: '', name: 'tech', component: () => import('@/views/tech/TechToday.vue'), meta: { title: 'tech.today' } },
      { path: 'jobs/:id', name: 'tech-job', component: () => import('@/views/tech/TechJob.vue'), props: true, meta: { title: 'tech.job' } },
    ],
  },
  {
    path: '/portal',
    component: () => import('@/layouts/PortalLayout.vue'),
    meta: { roles: ['customer'] },
    children: [
      { path: '', name: 'portal', component: () => import('@/views/portal/PortalOrders.vue'), meta: { title: 'portal.myOrders' } },
      { path: 'book', name: 'portal-book', component: () => import('@/views/portal/PortalBook.vue'), meta: { title: 'portal.book' } },
      { path: 'orders/:id', name: 'portal-order', component: () => import('@/views/portal/PortalOrder.vue'), props: true, meta: { title: 'nav.workOrder' } },
    ],
  },
  { path: '/report/:id', name: 'report', component: () => import('@/views/portal/ServiceReport.vue'), props: true, meta: { title: 'report.title' } },
  { path: '/track/:token', name: 'track', component: () => import('@/views/public/TrackPage.vue'), props: true, meta: { public: true, title: 'track.title' } },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFound.vue'), meta: { public: true } },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  const session = useSession()
  if (session.signedIn && !session.user) {
    try {
      await session.loadMe()
    } catch (e) {
      // No connection is not a sign-out: keep working as the last known user.
      if (!(e instanceof ApiError && e.isNetwork && session.restoreOffline())) session.clear()
    }
  }
  if (to.meta.public) {
    if (session.user && (to.name === 'login' || to.name === 'signup')) return session.home
    return true
  }
  if (!session.user) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.name === 'home') return session.home
  const roles = [...to.matched].reverse().find((r) => r.meta.roles)?.meta.roles
  if (roles && session.role && !roles.includes(session.role)) return session.home
  return true
})
