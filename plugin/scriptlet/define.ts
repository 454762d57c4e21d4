import type { z } from 'zod'
import type { ScriptletContext } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { EXIT_INVALID, type EnvelopeInput } from './envelope.ts'

/** What a scriptlet gets besides ctx and params. */
export interface ScriptletTools {
  /** The step's name in the recipe (the scriptlet's own name when run on its own). */
  step: string
  /** The project root; relative artifact paths are resolved from here. */
  root: string
  /** Human log line to the step log (stderr); stdout is reserved for the envelope. */
  log: (...args: unknown[]) => void
  /** Aborted when the step times out: long work should check it and stop. */
  signal?: AbortSignal
  /**
   * Declares a value derived from a secret (a session token, a base64 of a password): it is
   * masked (`***`) in logs, reports, the store and messages from then on.
   */
  secret: (value: string) => void
  /**
   * Reports how far a long step is: percent done (0–100) and what it is doing. Shown live in
   * the terminal and on the dashboard (`recipes dashboard`); a no-op where nothing watches.
   */
  progress?: (percent: number, message?: string) => void
}

/** The contract every TypeScript scriptlet meets, whichever way it is written. */
export interface Scriptlet<Params = JsonValue> {
  readonly name?: string
  /** Keys `run` promises to write: the step fails when it did not write them; the envelope's default `outputs`. */
  readonly outputs?: readonly string[]
  /**
   * Keys it reads, checked before the run against what the steps it depends on write:
   * `'numbers.raw_v1'`, `'lab.count_v1?'` (optional), or a function of the step's params
   * (`(params) => [params.key]`). Undeclared: the dataflow of its steps is not checked.
   */
  readonly reads?: DeclaredReads
  /** The zod schema of its params: a step's args are checked against it before the run. */
  readonly paramsSchema?: z.ZodType
  /** CPU-bound: run in a worker (honoured by the execution-controls runner). */
  readonly requiresProcess?: boolean
  /** Throws on bad input before anything is written; ctx is read-only here. */
  validate?(ctx: ScriptletContext, params: Params): void | Promise<void>
  /** Does the work: writes ctx and returns the envelope (or nothing, meaning ok). */
  run(
    ctx: ScriptletContext,
    params: Params,
    tools: ScriptletTools,
  ): EnvelopeInput | number | void | Promise<EnvelopeInput | number | void>
}

/** Keys a scriptlet reads: a list, or a function of the step's params (after the schema's defaults). */
// biome-ignore lint/suspicious/noExplicitAny: params are whatever the scriptlet's schema makes them
export type DeclaredReads = readonly string[] | ((params: any) => readonly string[])

/** A failure with a chosen exit code and details for the error envelope. */
export class ScriptletError extends Error {
  override name = 'ScriptletError'
  readonly exitCode: number
  readonly details: JsonObject
  constructor(message: string, options: { exitCode?: number; details?: JsonObject; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.exitCode = options.exitCode ?? 1
    this.details = options.details ?? {}
  }
}

/** Params that do not fit the scriptlet's schema: exit code 3. */
export class ParamsError extends ScriptletError {
  override name = 'ParamsError'
  constructor(message: string, details: JsonObject) {
    super(message, { exitCode: EXIT_INVALID, details })
  }
}

/**
 * Base class in the older framework's style: override `validate` and `run`.
 *
 * ```ts
 * export class ComputeMean extends BaseScriptlet<{ key?: string }> {
 *   override validate(ctx) { ctx.require('numbers.raw_v1') }
 *   run(ctx) { ctx.set('metrics.mean_v1', mean(ctx.require('numbers.raw_v1')), { who: 'compute_mean' }) }
 * }
 * ```
 */
export abstract class BaseScriptlet<Params = JsonObject> implements Scriptlet<Params> {
  readonly outputs?: readonly string[]
  readonly reads?: DeclaredReads
  readonly paramsSchema?: z.ZodType
  readonly requiresProcess?: boolean
  get name(): string {
    return this.constructor.name
  }
  validate(_ctx: ScriptletContext, _params: Params): void | Promise<void> {}
  abstract run(
    ctx: ScriptletContext,
    params: Params,
    tools: ScriptletTools,
  ): EnvelopeInput | number | void | Promise<EnvelopeInput | number | void>
}

export interface ScriptletDefinition<Schema extends z.ZodType> {
  /** Used as `who` in messages; the step name is what ctx history records when run in a recipe. */
  name: string
  /** Zod schema of the params; they are parsed (defaults applied) before `run`. */
  params?: Schema
  /** Keys `run` must write. */
  outputs?: readonly string[]
  /** Keys `run` reads (`'a.b_v1?'`: optional), or a function of the params: checked before the run. */
  reads?: readonly string[] | ((params: z.output<Schema>) => readonly string[])
  requiresProcess?: boolean
  /** Extra checks on ctx before any write (params are already valid here). */
  validate?: (ctx: ScriptletContext, params: z.output<Schema>) => void | Promise<void>
  run: (
    ctx: ScriptletContext,
    params: z.output<Schema>,
    tools: ScriptletTools,
  ) => EnvelopeInput | void | Promise<EnvelopeInput | void>
}

/** The function form: params validated by a zod schema before `run`; declared outputs are checked after it. */
export function defineScriptlet<Schema extends z.ZodType = z.ZodType<JsonObject>>(
  definition: ScriptletDefinition<Schema>,
): Scriptlet<unknown> {
  const parse = (params: unknown): z.output<Schema> =>
    definition.params ? parseParams(definition.params, params, definition.name) : (params as z.output<Schema>)
  const scriptlet: Scriptlet<unknown> = {
    name: definition.name,
    run: (ctx, params, tools) => definition.run(ctx, parse(params), tools),
  }
  // Without checks of its own, run's parse is the validation: no second parse, no read-only view per step.
  const validate = definition.validate
  if (validate) scriptlet.validate = async (ctx, params) => validate(ctx, parse(params))
  if (definition.outputs) Object.assign(scriptlet, { outputs: definition.outputs })
  if (definition.reads) Object.assign(scriptlet, { reads: definition.reads })
  if (definition.params) Object.assign(scriptlet, { paramsSchema: definition.params })
  if (definition.requiresProcess !== undefined)
    Object.assign(scriptlet, { requiresProcess: definition.requiresProcess })
  return scriptlet
}

/**
 * Parses params with a zod schema (defaults applied); throws a `ParamsError` (exit code 3)
 * that lists each problem. For class scriptlets that want what `defineScriptlet` does.
 */
export function parseParams<Schema extends z.ZodType>(
  schema: Schema,
  params: unknown,
  scriptletName: string,
): z.output<Schema> {
  const result = schema.safeParse(params ?? {})
  if (result.success) return result.data
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length ? issue.path.join('.') : 'params'}: ${issue.message}`,
  )
  throw new ParamsError(`invalid params for ${scriptletName}: ${problems.join('; ')}`, { issues: problems })
}
