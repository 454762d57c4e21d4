/** The values a context may hold: what JSON can say, nothing more. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject {
  [key: string]: JsonValue
}

/**
 * How deeply arrays and objects may nest in a context value or an envelope. Deeper values
 * are refused when written: the copies, the store's JSON and the reports all walk values
 * recursively, and a value 100,000 levels deep would overflow the stack in each of them.
 */
export const MAX_JSON_DEPTH = 1000

/**
 * Why `value` is not plain JSON, or undefined when it is. The answer names the offending
 * spot (`value.items[2]`) so the writer can find it. The walk stops at MAX_JSON_DEPTH, so
 * no value can overflow the stack here.
 */
export function findNonJsonValue(value: unknown, path = 'value'): string | undefined {
  const problem = findProblem(value, path, new Set<object>(), 0)
  return problem === TOO_DEEP ? `${path} is nested deeper than ${MAX_JSON_DEPTH} levels${DEPTH_ADVICE}` : problem
}

// Said once for the whole value: the path of a spot 1,000 levels down helps nobody.
const TOO_DEEP = Symbol('too deep')
const DEPTH_ADVICE = ' (flatten it, or store it as a file under Data/ and put its path in ctx)'

function findProblem(
  value: unknown,
  path: string,
  seen: Set<object>,
  depth: number,
): string | typeof TOO_DEEP | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : `${path} is ${value} (only finite numbers are JSON)`
  if (value === undefined) return `${path} is undefined (use null, or leave the key out)`
  if (typeof value === 'bigint') return `${path} is a BigInt (store it as a string or number)`
  if (typeof value === 'function') return `${path} is a function`
  if (typeof value === 'symbol') return `${path} is a symbol`
  if (seen.has(value)) return `${path} is a circular reference`
  if (depth === MAX_JSON_DEPTH) return TOO_DEEP
  if (Array.isArray(value)) {
    seen.add(value)
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return `${path}[${i}] is an array hole`
      const problem = findProblem(value[i], `${path}[${i}]`, seen, depth + 1)
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
    const problem = findProblem(item, `${path}.${key}`, seen, depth + 1)
    if (problem) return problem
  }
  seen.delete(value)
  return undefined
}
