import { type Context, type ContextWrite, ContextWriteError } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'

/**
 * The operations of the older framework's context server (`update_state.sh`): full, get,
 * set, append, delete, pop, on a running recipe's ctx. Every write is attributed (`who`)
 * and may state the revision of the key it expects (optimistic concurrency: a write that
 * lost the race is refused with the current revision). Transport-free: the HTTP server
 * (ctx-server.ts) maps them to requests, the CLI (`recipes ctx`) to commands.
 */
export type CtxOperation = 'full' | 'get' | 'set' | 'append' | 'delete' | 'pop'

export const CTX_OPERATIONS: readonly CtxOperation[] = ['full', 'get', 'set', 'append', 'delete', 'pop']

export interface CtxRequest {
  op: CtxOperation
  key?: string
  value?: JsonValue
  /** pop: the index of the item to remove (negative counts from the end, as in Python); the last by default. */
  index?: number
  /** Who writes (a client's name); `api` when not given. */
  who?: string
  /** The revision of the key the writer last saw (0: the key must not exist yet). */
  expectRevision?: number
}

/** What an operation answers: the key's value and revision after it, and what pop removed. */
export interface CtxAnswer {
  key?: string
  value?: JsonValue
  revision?: number
  exists?: boolean
  popped?: JsonValue
  values?: JsonObject
  revisions?: Record<string, number>
}

/** Why an operation was refused; `status` is the HTTP status the server answers with. */
export class CtxOperationError extends Error {
  override name = 'CtxOperationError'
  readonly status: 400 | 404 | 409 | 422
  readonly code: string
  /** The key's current revision, for a write that lost the race. */
  readonly revision: number | undefined

  constructor(status: CtxOperationError['status'], code: string, message: string, revision?: number) {
    super(message)
    this.status = status
    this.code = code
    this.revision = revision
  }
}

/** Applies `request` to `ctx`; `onWrite` receives the history entry of each write (to record it). */
export function applyCtxOperation(
  ctx: Context,
  request: CtxRequest,
  onWrite: (write: ContextWrite) => void,
): CtxAnswer {
  const { op } = request
  if (op === 'full') {
    const values = ctx.toJSON()
    return { values, revisions: Object.fromEntries(Object.keys(values).map((key) => [key, ctx.revision(key)])) }
  }
  const key = request.key
  if (typeof key !== 'string' || key === '')
    throw new CtxOperationError(400, 'CTX_KEY_REQUIRED', `${op} needs a key (for example metrics.summary_v1)`)
  if (op === 'get') {
    if (!ctx.has(key)) throw new CtxOperationError(404, 'CTX_NOT_FOUND', `ctx has no "${key}"`, ctx.revision(key))
    return { key, value: ctx.get(key)!, revision: ctx.revision(key), exists: true }
  }
  const who = request.who ?? 'api'
  if (typeof who !== 'string' || who.trim() === '')
    throw new CtxOperationError(400, 'CTX_MISSING_WHO', `${op} of "${key}": who must name the writer`)
  checkRevision(ctx, key, request.expectRevision)
  const write = (value: JsonValue): number => {
    try {
      onWrite(ctx.set(key, value, { who }))
    } catch (error) {
      if (error instanceof ContextWriteError) throw new CtxOperationError(422, error.code, error.message)
      throw error
    }
    return ctx.revision(key)
  }
  if (op === 'set') {
    if (!('value' in request) || request.value === undefined)
      throw new CtxOperationError(400, 'CTX_VALUE_REQUIRED', `set of "${key}" needs a JSON value`)
    const revision = write(request.value)
    return { key, value: ctx.get(key)!, revision, exists: true }
  }
  if (op === 'append') {
    if (!('value' in request) || request.value === undefined)
      throw new CtxOperationError(400, 'CTX_VALUE_REQUIRED', `append to "${key}" needs a JSON value`)
    const current = ctx.get(key)
    if (current !== undefined && !Array.isArray(current))
      throw new CtxOperationError(
        422,
        'CTX_NOT_A_LIST',
        `append to "${key}": its value is ${describe(current)}, not a list; set it to a list first`,
      )
    const revision = write([...(current ?? []), request.value])
    return { key, value: ctx.get(key)!, revision, exists: true }
  }
  if (op === 'delete') {
    const removed = ctx.delete(key, { who })
    if (!removed) throw new CtxOperationError(404, 'CTX_NOT_FOUND', `ctx has no "${key}" to delete`)
    onWrite(removed)
    return { key, revision: ctx.revision(key), exists: false }
  }
  if (op === 'pop') {
    const current = ctx.get(key)
    if (current === undefined) throw new CtxOperationError(404, 'CTX_NOT_FOUND', `ctx has no "${key}" to pop from`)
    if (!Array.isArray(current))
      throw new CtxOperationError(
        422,
        'CTX_NOT_A_LIST',
        `pop from "${key}": its value is ${describe(current)}, not a list`,
      )
    const index = request.index ?? -1
    const at = index < 0 ? current.length + index : index
    if (!Number.isInteger(index) || at < 0 || at >= current.length)
      throw new CtxOperationError(
        422,
        'CTX_INDEX_OUT_OF_RANGE',
        `pop from "${key}": index ${index} is out of range for its ${current.length} item(s)`,
      )
    const popped = current[at]!
    const revision = write([...current.slice(0, at), ...current.slice(at + 1)])
    return { key, value: ctx.get(key)!, revision, exists: true, popped }
  }
  throw new CtxOperationError(
    400,
    'CTX_UNKNOWN_OPERATION',
    `unknown operation "${op}"; use ${CTX_OPERATIONS.join(', ')}`,
  )
}

function checkRevision(ctx: Context, key: string, expected: number | undefined): void {
  if (expected === undefined) return
  const current = ctx.revision(key)
  const exists = ctx.has(key)
  // 0 means "the key must not exist yet", whatever revision a deleted key had.
  if (expected === 0 ? !exists : expected === current && exists) return
  throw new CtxOperationError(
    409,
    'CTX_REVISION_CONFLICT',
    `"${key}" is at revision ${exists ? current : '0 (it does not exist)'}, not ${expected}: another writer changed it first; read it again and retry`,
    exists ? current : 0,
  )
}

function describe(value: JsonValue): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}
