import type { StepContext } from '../context/step-context.ts'
import type { JsonObject } from '../context/json-value.ts'
import { BaseScriptlet, type Scriptlet, type ScriptletTools } from './define.ts'
import { toJsonSafe } from './json-safe.ts'
import { EXIT_FAILED, errorEnvelope, normalizeEnvelope, type Envelope } from './envelope.ts'
import { isThenable, type MaybePromise } from './maybe-async.ts'

export interface Invocation {
  envelope: Envelope
  /** The thrown error behind an error envelope, kept as the `cause` of test failures. */
  error?: unknown
}

/**
 * Finds the scriptlet a module exports under `exportName` (the default export when absent):
 * a `BaseScriptlet` subclass, a `defineScriptlet` object, or a plain `run` function.
 * Returns a sentence saying what is wrong when there is none.
 */
export function resolveScriptlet(moduleNamespace: Record<string, unknown>, exportName?: string): Scriptlet | string {
  const value = exportName === undefined ? moduleNamespace.default : moduleNamespace[exportName]
  if (value === undefined) {
    const available = Object.keys(moduleNamespace).filter((name) => name !== '__esModule')
    const wanted = exportName === undefined ? 'default export' : `export named "${exportName}"`
    return `the module has no ${wanted}; its exports: ${available.length ? available.join(', ') : '(none)'}`
  }
  if (typeof value === 'function') {
    const prototype = (value as { prototype?: { run?: unknown } }).prototype
    if (typeof prototype?.run === 'function') return new (value as new () => Scriptlet)()
    return { name: value.name, run: value as Scriptlet['run'] }
  }
  if (typeof value === 'object' && value !== null && typeof (value as Scriptlet).run === 'function')
    return value as Scriptlet
  return `"${exportName ?? 'default'}" is not a scriptlet: export a BaseScriptlet subclass, a defineScriptlet(...) object or a run function`
}

/**
 * Runs `validate` (on a read-only view) then `run`, and turns whatever happens into an
 * envelope. Never throws: a thrown error becomes an error envelope with its exit code.
 * Synchronous when the scriptlet is (no validate of its own, a `run` that returns a value,
 * not a promise): most no-op and bookkeeping steps then cost no microtask.
 */
export function invokeScriptlet(
  scriptlet: Scriptlet,
  ctx: StepContext,
  params: unknown,
  tools: ScriptletTools,
): MaybePromise<Invocation> {
  // BaseScriptlet's own validate checks nothing: skip it (and the read-only view) for classes that keep it.
  if (scriptlet.validate && scriptlet.validate !== BaseScriptlet.prototype.validate)
    return validateThenRun(scriptlet, ctx, params, tools)
  let raw: ReturnType<Scriptlet['run']>
  try {
    raw = scriptlet.run(ctx, params as never, tools)
  } catch (error) {
    return { envelope: envelopeFromError(error, tools.step), error }
  }
  if (!isThenable(raw)) return invocationOf(scriptlet, ctx, raw, tools.step)
  return Promise.resolve(raw).then(
    (value) => invocationOf(scriptlet, ctx, value, tools.step),
    (error: unknown) => ({ envelope: envelopeFromError(error, tools.step), error }),
  )
}

async function validateThenRun(
  scriptlet: Scriptlet,
  ctx: StepContext,
  params: unknown,
  tools: ScriptletTools,
): Promise<Invocation> {
  try {
    await scriptlet.validate!(ctx.readOnlyView(`${tools.step}.validate`), params as never)
    return invocationOf(scriptlet, ctx, await scriptlet.run(ctx, params as never, tools), tools.step)
  } catch (error) {
    return { envelope: envelopeFromError(error, tools.step), error }
  }
}

/** The envelope of what `run` returned; a declared output it did not write makes it an error. */
function invocationOf(scriptlet: Scriptlet, ctx: StepContext, raw: unknown, step: string): Invocation {
  try {
    const written = new Set(ctx.writtenKeys())
    const envelope = normalizeEnvelope(raw, step, scriptlet.outputs ?? [...written])
    const missing = envelope.status === 'ok' ? (scriptlet.outputs ?? []).filter((key) => !written.has(key)) : []
    if (missing.length === 0) return { envelope }
    const who = scriptlet.name ?? step
    return {
      envelope: errorEnvelope(step, `${who} declares outputs it did not write: ${missing.join(', ')}`, EXIT_FAILED, {
        missing,
      }),
    }
  } catch (error) {
    return { envelope: envelopeFromError(error, step), error }
  }
}

export function envelopeFromError(error: unknown, step: string): Envelope {
  const { exitCode, details } = (error ?? {}) as { exitCode?: unknown; details?: unknown }
  const reason = error instanceof Error ? error.message : `threw ${String(error)}`
  return errorEnvelope(
    step,
    reason,
    typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode > 0 ? exitCode : EXIT_FAILED,
    typeof details === 'object' && details !== null && !Array.isArray(details)
      ? (toJsonSafe(details) as JsonObject)
      : {},
  )
}
