/** The values a context may hold: what JSON can say, nothing more. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject {
  [key: string]: JsonValue
}

/**
 * Why `value` is not plain JSON, or undefined when it is. The answer names the offending
 * spot (`value.items[2]`) so the writer can find it.
 */
export function findNonJsonValue(value: unknown, path = 'value', seen = new Set<object>()): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : `${path} is ${value} (only finite numbers are JSON)`
  if (value === undefined) return `${path} is undefined (use null, or leave the key out)`
  if (typeof value === 'bigint') return `${path} is a BigInt (store it as a string or number)`
  if (typeof value === 'function') return `${path} is a function`
  if (typeof value === 'symbol') return `${path} is a symbol`
  if (seen.has(value)) return `${path} is a circular reference`
  if (Array.isArray(value)) {
    seen.add(value)
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return `${path}[${i}] is an array hole`
      const problem = findNonJsonValue(value[i], `${path}[${i}]`, seen)
      if (problem) return problem
    }
    seen.delete(value)
    return undefined
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as object).constructor?.name ?? 'unknown'
    const advice =
      value instanceof Date
        ? ' (store date.toISOString())'
        : value instanceof Map
          ? ' (store Object.fromEntries(map))'
          : ''
    return `${path} is a ${name} instance${advice}; only plain objects and arrays are JSON`
  }
  seen.add(value)
  for (const [key, item] of Object.entries(value)) {
    const problem = findNonJsonValue(item, `${path}.${key}`, seen)
    if (problem) return problem
  }
  seen.delete(value)
  return undefined
}

/** Deep copy of a JSON value: the context never shares objects with its callers. */
export function cloneJson<T extends JsonValue | undefined>(value: T): T {
  return value === undefined ? value : (structuredClone(value) as T)
}
