import { Context, type KeyNamingMode } from '../context/context.ts'
import { StepContext } from '../context/step-context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { Scriptlet } from './define.ts'
import type { Envelope } from './envelope.ts'
import { invokeScriptlet } from './invoke.ts'

export interface StandaloneOptions {
  scriptlet: Scriptlet
  params: JsonValue
  /** Context to start from; the older framework started from an empty one. */
  initialContext?: JsonObject
  /** Name used as the step (and as `who` by scriptlets that write `who: tools.step`). */
  step: string
  root: string
  keyNaming?: KeyNamingMode
  /**
   * Receives each value the scriptlet declares secret (`tools.secret`), for a caller that masks
   * what it prints (`recipes step`).
   * @default prints `::add-mask::<value>` on stderr, for a runner that wraps this process
   */
  secret?: (value: string) => void
}

export interface StandaloneResult {
  envelope: Envelope
  context: JsonObject
  error?: unknown
}

/**
 * Runs one scriptlet outside a recipe, as `recipes step` does: validate, run, envelope.
 * Human logs go to stderr; the caller prints the envelope as the one stdout line.
 */
export async function runScriptletStandalone(options: StandaloneOptions): Promise<StandaloneResult> {
  const ctx = new Context(options.initialContext ?? {}, {
    keyNaming: options.keyNaming ?? 'error',
    warn: (message) => console.error(message),
  })
  const invocation = await invokeScriptlet(options.scriptlet, new StepContext(ctx), options.params, {
    step: options.step,
    root: options.root,
    log: (...args) => console.error(...args),
    // Run on its own, nothing records the value; the directive tells a runner that wraps it.
    secret: options.secret ?? ((value) => console.error(`::add-mask::${value}`)),
  })
  return { ...invocation, context: ctx.toJSON() }
}
