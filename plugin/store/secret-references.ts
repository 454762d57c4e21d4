import type { JsonValue } from '../context/json-value.ts'

/**
 * How the store keeps a secret inside a ctx value: `***{NAME}`, a reference to the
 * environment variable it came from, or `***{derived}` for a value declared secret at run
 * time. Reports show the mask and the name, never the value; `--resume-from` puts the real
 * value back from the environment.
 */
export const DERIVED_SECRET = 'derived'
const REFERENCE = /\*\*\*\{([A-Za-z_][A-Za-z0-9_]*)\}/g

export function secretReference(source: string): string {
  return `***{${source}}`
}

/**
 * Puts the real values back into a ctx value the store kept with secret references, from
 * the environment; or a sentence saying what is missing: a variable that is not set, or a
 * value derived at run time (never kept, so it cannot be restored).
 */
export function restoreSecrets<T extends JsonValue>(
  value: T,
  env: NodeJS.ProcessEnv = process.env,
): { value: T } | { missing: string } {
  const restored = restoreSecretReferences(value, env)
  return 'missing' in restored ? { missing: restored.missing } : restored
}

/**
 * `restoreSecrets`, saying also which reference could not be restored: `source` is the
 * variable's name, or `derived` (DERIVED_SECRET).
 */
export function restoreSecretReferences<T extends JsonValue>(
  value: T,
  env: NodeJS.ProcessEnv = process.env,
): { value: T } | { missing: string; source: string } {
  let source: string | undefined
  const walk = (item: JsonValue): JsonValue => {
    if (typeof item === 'string') {
      if (!item.includes('***{')) return item
      return item.replace(REFERENCE, (whole, name: string) => {
        const real = name === DERIVED_SECRET ? undefined : env[name]
        if (real !== undefined) return real
        source ??= name
        return whole
      })
    }
    if (Array.isArray(item)) return item.map(walk)
    if (item !== null && typeof item === 'object')
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key, walk(inner)]))
    return item
  }
  const restored = walk(value) as T
  if (source === undefined) return { value: restored }
  const missing =
    source === DERIVED_SECRET
      ? 'it holds a value derived from a secret at run time (tools.secret or ::add-mask::), which the store never keeps'
      : `it holds the secret of the environment variable ${source}, which is not set: set ${source} and resume again`
  return { missing, source }
}
