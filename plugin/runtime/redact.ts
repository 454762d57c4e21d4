import type { JsonValue } from '../context/json-value.ts'

/** Environment variables whose values are secrets even when no recipe names them. */
export const SECRET_NAME_PATTERN = /(?:_TOKEN|_PASSWORD|_SECRET|_KEY)$/i
/** Shorter values would redact ordinary words and numbers everywhere. */
const MIN_SECRET_LENGTH = 4

export interface Redactor {
  /** Replaces every secret value in `text` by `***`. */
  text(text: string): string
  /** The same for every string in a JSON value (keys included). */
  json<T extends JsonValue | undefined>(value: T): T
  /** Whether there is anything to redact. */
  readonly active: boolean
}

/**
 * Collects the values of the environment variables named in `names`, plus those whose
 * names look secret, and redacts them. Longer values first, so a secret that contains
 * another is replaced whole.
 */
export function createRedactor(names: readonly string[], env: NodeJS.ProcessEnv = process.env): Redactor {
  const values = new Set<string>()
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= MIN_SECRET_LENGTH && (names.includes(name) || SECRET_NAME_PATTERN.test(name)))
      values.add(value)
  }
  const sorted = [...values].sort((a, b) => b.length - a.length)
  const text = (input: string): string => {
    let output = input
    for (const secret of sorted) if (output.includes(secret)) output = output.split(secret).join('***')
    return output
  }
  const json = <T extends JsonValue | undefined>(value: T): T => {
    if (sorted.length === 0 || value === undefined || value === null) return value
    if (typeof value === 'string') return text(value) as T
    if (Array.isArray(value)) return value.map((item) => json(item)) as T
    if (typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [text(key), json(item)])) as T
    return value
  }
  return { text: sorted.length === 0 ? (input) => input : text, json, active: sorted.length > 0 }
}
