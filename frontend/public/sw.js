// fieldops service worker: keeps the app itself available offline (the technician's phone may reload with no
// connection). Hashed build files are cached as they are fetched; pages fall back to the cached index.html.
// API calls are never cached: offline changes go through the app's own queue (src/api/offline.ts).
const CACHE = 'fieldops-app-v1'

// Every file of the build (from Vite's manifest), so any screen opens offline, even one never visited.
async function precache() {
  const cache = await caches.open(CACHE)
  await cache.add('/index.html')
  const manifest = await (await fetch('/.vite/manifest.json', { cache: 'no-store' })).json()
  const files = new Set()
  for (const entry of Object.values(manifest)) {
    files.add('/' + entry.file)
    for (const css of entry.css ?? []) files.add('/' + css)
  }
  const missing = []
  for (const f of files) if (!(await cache.match(f))) missing.push(f)
  await cache.addAll(missing)
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return

  if (req.mode === 'navigate') {
    // Network first so a new release shows at once; the cached shell when offline.
    event.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone()
            caches.open(CACHE).then((c) => c.put('/index.html', copy))
          }
          return res
        })
        .catch(() => caches.match('/index.html')),
    )
    return
  }
  if (url.pathname.startsWith('/assets/')) {
    // File names carry a content hash: a cached copy is always right.
    event.respondWith(
      caches.match(req).then(
        (hit) =>
          hit ||
          fetch(req).then((res) => {
            if (res.ok) {
              const copy = res.clone()
              caches.open(CACHE).then((c) => c.put(req, copy))
            }
            return res
          }),
      ),
    )
  }
})
