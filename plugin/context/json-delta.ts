import type { JsonObject, JsonValue } from './json-value.ts'

/**
 * What changed between two JSON values, as RFC 6902 JSON Patch operations (`add`, `remove`,
 * `replace`; paths are RFC 6901 JSON Pointers), and how to apply them. The history of the
 * ctx keeps an append as the item and a change of one field as that field, so it grows with
 * what changed, not with the size of the value. Values are compared by reference first: the
 * context shares the unchanged parts of a value with the one it replaces (`freezeSharing`), so
 * a diff walks only down the parts that changed.
 */

export type JsonPatchOperation =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }

/**
 * A deep-frozen copy of `value` that reuses the parts of `previous` (a value frozen here
 * before) that are equal to it: appending to a list of 600 items keeps the 600 items, so the
 * context's history holds each of them once.
 */
export function freezeSharing<T extends JsonValue>(value: T, previous?: JsonValue): T {
  if (value === previous || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    const before = Array.isArray(previous) ? previous : undefined
    let same = before !== undefined && before.length === value.length
    const copy: JsonValue[] = new Array(value.length)
    for (let i = 0; i < value.length; i++) {
      copy[i] = freezeSharing(value[i]!, before?.[i])
      if (same && copy[i] !== before![i]) same = false
    }
    return (same ? previous : Object.freeze(copy)) as T
  }
  const before = isObject(previous) ? previous : undefined
  const keys = Object.keys(value)
  let same = before !== undefined && Object.keys(before).length === keys.length
  const copy: JsonObject = {}
  for (const key of keys) {
    const old = before !== undefined && Object.hasOwn(before, key) ? before[key] : undefined
    setOwn(copy, key, freezeSharing((value as JsonObject)[key]!, old))
    if (same && (old === undefined || copy[key] !== old)) same = false
  }
  return (same ? previous : Object.freeze(copy)) as T
}

/** Whether two JSON values are equal (same items in the same order, same fields in any order). */
export function equalJson(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!equalJson(a[i]!, b[i]!)) return false
    return true
  }
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) if (!Object.hasOwn(b, key) || !equalJson(a[key]!, b[key]!)) return false
  return true
}

/**
 * The operations that turn `before` into `after`: items appended to a list are `add`s at
 * `/-`, items cut from its end `remove`s, a changed field is a change at its path; a value
 * of another kind (a number becoming a list) is one `replace` of it. Empty when they are equal.
 */
export function diffJson(before: JsonValue, after: JsonValue): JsonPatchOperation[] {
  const operations: JsonPatchOperation[] = []
  diffInto(before, after, '', operations)
  return operations
}

function diffInto(before: JsonValue, after: JsonValue, path: string, out: JsonPatchOperation[]): void {
  if (before === after) return
  if (Array.isArray(before) && Array.isArray(after)) {
    diffArrays(before, after, path, out)
    return
  }
  if (isObject(before) && isObject(after)) {
    for (const key of Object.keys(before))
      if (!Object.hasOwn(after, key)) out.push({ op: 'remove', path: child(path, key) })
    for (const key of Object.keys(after)) {
      if (!Object.hasOwn(before, key)) out.push({ op: 'add', path: child(path, key), value: after[key]! })
      else diffInto(before[key]!, after[key]!, child(path, key), out)
    }
    return
  }
  if (!equalJson(before, after)) out.push({ op: 'replace', path, value: after })
}

function diffArrays(before: JsonValue[], after: JsonValue[], path: string, out: JsonPatchOperation[]): void {
  const common = Math.min(before.length, after.length)
  for (let i = 0; i < common; i++) diffInto(before[i]!, after[i]!, child(path, String(i)), out)
  // Cut from the end, last first: each index is still there when its remove applies.
  for (let i = before.length - 1; i >= common; i--) out.push({ op: 'remove', path: child(path, String(i)) })
  for (let i = common; i < after.length; i++) out.push({ op: 'add', path: `${path}/-`, value: after[i]! })
}

/**
 * `value` with `operations` applied, as a new value that shares what did not change with
 * `value` (which is never changed). Throws when an operation does not fit the value (a path
 * that is not there): the patch was not made against it.
 */
export function applyJsonPatch(value: JsonValue | undefined, operations: readonly JsonPatchOperation[]): JsonValue {
  let result = value
  for (const operation of operations) result = applyOperation(result, operation, parsePointer(operation.path), 0)
  if (result === undefined) throw new Error('the patch removed the whole value')
  return result
}

function applyOperation(
  target: JsonValue | undefined,
  operation: JsonPatchOperation,
  path: readonly string[],
  depth: number,
): JsonValue | undefined {
  if (depth === path.length) {
    if (operation.op === 'remove') return undefined
    return operation.value
  }
  const token = path[depth]!
  const last = depth === path.length - 1
  if (Array.isArray(target)) {
    const copy = target.slice()
    if (last && operation.op === 'add') {
      const index = token === '-' ? copy.length : arrayIndex(token, copy.length + 1, operation.path)
      copy.splice(index, 0, operation.value)
      return copy
    }
    const index = arrayIndex(token, copy.length, operation.path)
    if (last && operation.op === 'remove') copy.splice(index, 1)
    else copy[index] = applyOperation(copy[index], operation, path, depth + 1)!
    return copy
  }
  if (isObject(target)) {
    const copy: JsonObject = { ...target }
    if (!last || operation.op !== 'add') {
      if (!Object.hasOwn(target, token)) throw new Error(`the patch's path ${operation.path} is not in the value`)
    }
    if (last && operation.op === 'remove') delete copy[token]
    else setOwn(copy, token, applyOperation(target[token], operation, path, depth + 1)!)
    return copy
  }
  throw new Error(`the patch's path ${operation.path} is not in the value`)
}

function arrayIndex(token: string, size: number, path: string): number {
  const index = /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : Number.NaN
  if (!(index < size)) throw new Error(`the patch's path ${path} is not in the value`)
  return index
}

/** A JSON Pointer's reference tokens (RFC 6901: `~1` is `/`, `~0` is `~`). */
function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) throw new Error(`the patch's path ${pointer} is not a JSON Pointer`)
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function child(path: string, token: string): string {
  return `${path}/${token.replace(/~/g, '~0').replace(/\//g, '~1')}`
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** An own field, even one named `__proto__` (an ordinary key in JSON). */
function setOwn(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__')
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  else object[key] = value
}
