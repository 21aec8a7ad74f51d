import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The API the dev server proxies to (`fieldops run` listens on 8000 by default).
const api = process.env.FIELDOPS_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus components (and their CSS) are imported on demand, only where a template uses them.
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: false }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  build: {
    outDir: fileURLToPath(new URL('../src/fieldops/static', import.meta.url)),
    emptyOutDir: true,
    // .vite/manifest.json lists every built file; the service worker precaches them for offline use.
    manifest: true,
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: { '/api': { target: api, changeOrigin: false } },
  },
})
