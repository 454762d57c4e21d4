import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vite'

// Entries beside this file: source (.ts) in this repository, built (.js) when installed.
const OWN_EXTENSION = extname(fileURLToPath(import.meta.url))
const entry = (path: string) => fileURLToPath(new URL(`../${path}/index${OWN_EXTENSION}`, import.meta.url))

/**
 * The built package (dist/), when this plugin runs from it. Its modules are plain ESM that
 * Node loads natively; listing the folder as external keeps Vite from transforming them
 * even when the package is linked from outside node_modules (npm link, workspaces).
 */
export const OWN_DIST = OWN_EXTENSION === '.js' ? fileURLToPath(new URL('..', import.meta.url)) : undefined

/** This package's public subpaths that scriptlets and generated code import. */
export const OWN_ENTRIES: Readonly<Record<string, string>> = {
  'vitest-recipes/runtime': entry('runtime'),
  'vitest-recipes/scriptlet': entry('scriptlet'),
}

/**
 * Resolves `vitest-recipes/*` to the copy this plugin belongs to: one runtime per run, and
 * this repository's own examples import `vitest-recipes/scriptlet` the way user projects do.
 */
export function resolveOwnEntries(): Plugin {
  return { name: 'vitest-recipes:entries', enforce: 'pre', resolveId: (id) => OWN_ENTRIES[id] }
}
