import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import JSZip from 'jszip'

/** Every file below `dir`, symlinks left out (a test project links node_modules to this repository). */
export function projectFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isSymbolicLink()) return []
    const path = join(dir, entry.name)
    return entry.isDirectory() ? projectFiles(path) : [path]
  })
}

/** A file's bytes as text; of an Office document, every part it zips (their XML is compressed). */
export async function fileText(file: string): Promise<string> {
  if (!/\.(xlsx|docx)$/.test(file)) return readFileSync(file, 'latin1')
  const zip = await JSZip.loadAsync(readFileSync(file))
  const parts = Object.values(zip.files).filter((part) => !part.dir)
  return (await Promise.all(parts.map((part) => part.async('string')))).join('\n')
}

/**
 * Where any of `values` occurs in `text`: 200 characters before each first occurrence and 50
 * after, so a failing test shows the leak in its context; empty when there is none.
 */
export function findLeaks(text: string, values: readonly string[]): string[] {
  return values.flatMap((value) => {
    const at = text.indexOf(value)
    return at === -1
      ? []
      : [`${JSON.stringify(value)} in: ${text.slice(Math.max(0, at - 200), at + value.length + 50)}`]
  })
}

/** The forms a value takes when written inside a JSON string once and twice (a JSON line logged inside another). */
export function escapedForms(value: string): string[] {
  const once = JSON.stringify(value).slice(1, -1)
  const twice = JSON.stringify(once).slice(1, -1)
  return [...new Set([value, once, twice])]
}
