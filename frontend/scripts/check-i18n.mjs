// Every literal message key used in src/ must exist in the English dictionary (zh-CN is typed
// against it, so vue-tsc catches keys missing there). Dynamic keys (`status.${s}`) are checked by prefix.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

const src = new URL('../src/', import.meta.url).pathname
const js = ts.transpileModule(readFileSync(join(src, 'i18n/en.ts'), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext } }).outputText
const en = (await import(`data:text/javascript,${encodeURIComponent(js)}`)).default

const has = (key) => key.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), en) !== undefined
const files = []
const walk = (d) => readdirSync(d).forEach((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : /\.(vue|ts)$/.test(f) && files.push(join(d, f))))
walk(src)
const missing = new Set()
for (const f of files) {
  const text = readFileSync(f, 'utf8')
  for (const m of text.matchAll(/(?:\$t|\bt|\bte)\((['`])([^'`]+)\1/g)) {
    const key = m[2]
    if (key.includes('${')) {
      const head = key.slice(0, key.indexOf('${'))
      const prefix = head.slice(0, head.lastIndexOf('.'))
      if (prefix && !has(prefix)) missing.add(`${key} (prefix ${prefix})`)
    } else if (!has(key)) missing.add(`${key}  in ${f.slice(src.length)}`)
  }
  for (const m of text.matchAll(/(?:title|key): '([a-zA-Z]+\.[a-zA-Z.]+)'/g)) if (!has(m[1])) missing.add(`${m[1]}  in ${f.slice(src.length)}`)
}
if (missing.size) {
  console.error('Message keys missing from src/i18n/en.ts:\n  ' + [...missing].join('\n  '))
  process.exit(1)
}
console.log(`i18n: ${files.length} files, every key found`)
