// House rule: the lock file carries names, versions and hashes only. npm writes packages' "funding"
// links into it (.npmrc already drops "resolved"); npm ci does not need them, so strip them.
import { readFileSync, writeFileSync } from 'node:fs'

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
for (const entry of Object.values(lock.packages ?? {})) {
  delete entry.funding
  delete entry.resolved
}
const text = JSON.stringify(lock, null, 2) + '\n'
if (text.includes('://')) {
  console.error('package-lock.json still contains an address (://)')
  process.exit(1)
}
writeFileSync(path, text)
