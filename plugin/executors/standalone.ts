import { Context, type KeyNamingMode } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { StepContext } from '../context/step-context.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Envelope } from '../scriptlet/envelope.ts'
import { runCommandStep } from './command.ts'

export interface CommandStandaloneOptions {
  /** The script or executable, relative to the root (as a recipe's `cmd:` names it). */
  command: string
  /** shell: a script; python: a python script run by `pythonExecutable`; exec: any executable. */
  type: 'shell' | 'python' | 'exec'
  /** Mapping params become environment variables, list params extra arguments (as in a recipe). */
  params: JsonObject | JsonValue[]
  initialContext?: JsonObject
  step: string
  root: string
  keyNaming?: KeyNamingMode
  pythonExecutable: string
  /** Stops the process (Ctrl-C, a timeout). */
  signal: AbortSignal
}

export interface CommandStandaloneResult {
  envelope: Envelope
  context: JsonObject
  stderr: string
}

/**
 * Runs one shell, python or executable scriptlet outside a recipe, as `recipes step` does and
 * exactly as a recipe step would run it: params as environment variables or arguments, the
 * starting context readable from RECIPES_CTX_FILE, the envelope from its stdout (its `ctx`
 * field written to the context), its exit code kept.
 */
export async function runCommandStandalone(options: CommandStandaloneOptions): Promise<CommandStandaloneResult> {
  const ctx = new Context(options.initialContext ?? {}, {
    keyNaming: options.keyNaming ?? 'error',
    warn: (message) => console.error(message),
  })
  const step = {
    name: options.step,
    type: options.type,
    command: options.command,
    params: options.params,
    parse: 'json',
    save: {},
  } as const satisfies Partial<RecipeStep>
  const execution = await runCommandStep(
    { step: step as unknown as RecipeStep, ctx: new StepContext(ctx), root: options.root, signal: options.signal },
    { pythonExecutable: options.pythonExecutable },
  )
  return { envelope: execution.envelope, context: ctx.toJSON(), stderr: execution.stderr }
}
