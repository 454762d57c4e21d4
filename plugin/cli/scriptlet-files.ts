import { type Dirent, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Scriptlet files under `dir` (absolute paths): TS/JS modules, Python, shell and awk scripts. */
export function listScriptletFiles(dir: string): string[] {
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  return entries
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const path = join(dir, entry.name)
      if (entry.isDirectory())
        return entry.name === '__pycache__' || entry.name === 'node_modules' ? [] : listScriptletFiles(path)
      return /\.(ts|js|mjs|py|sh|awk)$/.test(entry.name) ? [path] : []
    })
}
