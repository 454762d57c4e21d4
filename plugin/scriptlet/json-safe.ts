import type { JsonObject, JsonValue } from '../context/json-value.ts'

const MAX_DEPTH = 64

/**
 * A JSON value from whatever a scriptlet attached to an error (`details`): a BigInt as its
 * digits, a function or symbol by name, a cycle or anything nested past 64 levels as a
 * marker, non-finite numbers as text, `undefined` left out. What a scriptlet throws must
 * never break the recording of its failure.
 */
export function toJsonSafe(value: unknown, depth = 0, seen = new WeakSet<object>()): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value)
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`
  if (typeof value === 'symbol') return value.toString()
  if (typeof value !== 'object') return null
  if (seen.has(value)) return '[circular]'
  if (depth >= MAX_DEPTH) return '[nested too deep]'
  seen.add(value)
  try {
    if (Array.isArray(value)) return value.map((item) => toJsonSafe(item, depth + 1, seen))
    if (value instanceof Error) return { name: value.name, message: value.message }
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString()
    const out: JsonObject = {}
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = toJsonSafe(item, depth + 1, seen)
    }
    return out
  } finally {
    seen.delete(value)
  }
}
