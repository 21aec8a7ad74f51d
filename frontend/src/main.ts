import { createApp, watch } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/base.css'
// Message boxes and toasts are used imperatively, so their styles are loaded up front.
import 'element-plus/theme-chalk/el-message.css'
import 'element-plus/theme-chalk/el-message-box.css'
import 'element-plus/theme-chalk/el-overlay.css'
import './styles/main.css'
import App from './App.vue'
import { i18n, currentLocale } from './i18n'
import { router } from './router'
import { connectClient, useSession } from './stores/session'
import { startLive, stopLive } from './api/live'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
const session = useSession()
connectClient(session, () => {
  const here = router.currentRoute.value
  if (!here.meta.public) router.replace({ name: 'login', query: { next: here.fullPath, expired: '1' } })
})
app.use(router)
// One live stream per signed-in tab; closed on sign-out.
watch(() => session.user?.id, (id) => (id ? startLive() : stopLive()), { immediate: true })
document.documentElement.lang = currentLocale()
app.mount('#app')
