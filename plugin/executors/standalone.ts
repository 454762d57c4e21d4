import { Context, type KeyNamingMode } from '../context/context.ts'
import type { JsonObject, JsonValue } from '../context/json-value.ts'
import { StepContext } from '../context/step-context.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Envelope } from '../scriptlet/envelope.ts'
import { runCommandStep } from './command.ts'
import type { PythonHost } from './python-host.ts'

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

export interface PythonModuleStandaloneOptions {
  /** The host to run in (the one that outlined the file): closed by the caller. */
  host: PythonHost
  /** The dotted module, importable from the host's python path. */
  module: string
  /** The class or function to call; the module's run() (or main()) when absent. */
  attr?: string | undefined
  params: JsonObject
  initialContext?: JsonObject
  step: string
  root: string
  keyNaming?: KeyNamingMode
  signal: AbortSignal
}

/**
 * Runs one python module scriptlet outside a recipe, as `recipes step` does, in the Python host
 * a recipe's python `module:` steps run in: validate(ctx, params) then run(ctx, params) of its
 * class, or its function, the context answered from here as it reads and writes.
 */
export async function runPythonModuleStandalone(
  options: PythonModuleStandaloneOptions,
): Promise<CommandStandaloneResult & { stdout: string }> {
  const ctx = new Context(options.initialContext ?? {}, {
    keyNaming: options.keyNaming ?? 'error',
    warn: (message) => console.error(message),
  })
  const step = {
    name: options.step,
    type: 'python',
    module: options.module,
    ...(options.attr === undefined ? {} : { export: options.attr }),
    params: options.params,
    save: {},
  } as const satisfies Partial<RecipeStep>
  const execution = await options.host.runStep({
    step: step as unknown as RecipeStep,
    ctx: new StepContext(ctx),
    root: options.root,
    signal: options.signal,
  })
  return { envelope: execution.envelope, context: ctx.toJSON(), stdout: execution.stdout, stderr: execution.stderr }
}
