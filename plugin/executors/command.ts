import { accessSync, constants, existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import { checkEnvName, describeEnvNameRefusal, envNameAdvice } from '../recipe/env-names.ts'
import { EXIT_FAILED, EXIT_INVALID, type Envelope, errorEnvelope } from '../scriptlet/envelope.ts'
import { runChildProcess } from './child-process.ts'
import { leaseCtxFile } from './ctx-file.ts'
import { envelopeFromOutput } from './output.ts'
import { progressWatcher } from './progress-lines.ts'
import { describeScriptFault } from './script-faults.ts'
import type { ExecutorInput, StepExecution } from './types.ts'

export interface CommandOptions {
  /** Interpreter for python `script:` steps. */
  pythonExecutable: string
}

/**
 * Runs a shell script, an executable or a python script as a child process, the older
 * framework's way: mapping params become environment variables (strings as-is, other
 * values as JSON), list params become extra arguments, the current context is readable
 * from the JSON file named by RECIPES_CTX_FILE, and stdout carries the envelope.
 */
export async function runCommandStep(input: ExecutorInput, options: CommandOptions): Promise<StepExecution> {
  const { step, ctx, root } = input
  const [program, ...fixedArgs] = Array.isArray(step.command) ? step.command : [step.command!]
  const isFile = step.type !== 'exec' || program!.includes('/')
  const path = isFile ? resolve(root, program!) : program!
  // A recipe's args were checked when it compiled; `recipes step --params` is checked here.
  const refused = Array.isArray(step.params) ? undefined : refusedParam(step.params)
  const missing = refused ? undefined : isFile ? checkRunnable(path, program!, step.type === 'python') : undefined
  if (refused || missing)
    return {
      envelope: errorEnvelope(step.name, (refused ?? missing)!, refused ? EXIT_INVALID : EXIT_FAILED),
      stdout: '',
      stderr: '',
      resources: { cpuMs: 0, peakRssBytes: 0 },
    }

  const ctxFile = leaseCtxFile(ctx)
  try {
    const params = step.params
    const args = [...fixedArgs, ...(Array.isArray(params) ? params.map(toArgument) : [])]
    // The runner's own variables win over any param of the same name.
    const env = {
      ...(Array.isArray(params) ? {} : paramsToEnv(params)),
      ...input.env,
      RECIPES_CTX_FILE: ctxFile.path,
      RECIPES_STEP: step.name,
      RECIPES_ROOT: root,
    }
    const [file, argv] =
      step.type === 'python'
        ? [options.pythonExecutable, [path, '--params', JSON.stringify(Array.isArray(params) ? {} : params), ...args]]
        : [path, args]
    const result = await runChildProcess({
      file,
      args: argv,
      env,
      cwd: root,
      step: step.name,
      signal: input.signal,
      ...(input.progress ? { onStderr: progressWatcher(input.progress) } : {}),
    })
    let envelope: Envelope
    try {
      envelope = envelopeFromOutput(result, step.parse, program!, step.name, ctx)
    } catch (error) {
      envelope = errorEnvelope(step.name, (error as Error).message, EXIT_FAILED)
    }
    // A program that did not start, or stopped before printing anything, may be a script
    // saved with Windows line ends or one whose #! interpreter is missing: say that instead.
    const silentFailure = result.startError !== undefined || (result.exitCode !== 0 && result.stdout.trim() === '')
    if (isFile && step.type !== 'python' && envelope.status === 'error' && silentFailure) {
      const fault = describeScriptFault(path, program!, result.startError !== undefined)
      if (fault) envelope.reason = fault.replaces ? fault.reason : `${envelope.reason}; ${fault.reason}`
    }
    if (step.type === 'shell' && envelope.status === 'error' && !Array.isArray(params)) {
      const unreadable = unreadableByShell(params)
      if (unreadable) envelope.reason = `${envelope.reason}; ${unreadable}`
    }
    return { envelope, stdout: result.stdout, stderr: result.stderr, resources: result.resources }
  } finally {
    ctxFile.release()
  }
}

/** The first param whose name may not become an environment variable, said with what to do instead. */
function refusedParam(params: Record<string, JsonValue>): string | undefined {
  for (const name of Object.keys(params)) {
    const refusal = checkEnvName(name)
    if (refusal) return `parameter ${describeEnvNameRefusal(name, refusal)}. ${envNameAdvice(name)}`
  }
  return undefined
}

/**
 * The mapping args a shell script cannot read as $name (names bash refuses as variables, such
 * as input-file or 2nd: the older runner passed them the same way), said for a failed step.
 */
function unreadableByShell(params: Record<string, JsonValue>): string | undefined {
  const names = Object.keys(params).filter((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
  if (names.length === 0) return undefined
  const example = names[0]!.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=[0-9])/, '_')
  const list = names.map((name) => JSON.stringify(name)).join(', ')
  return `the ${names.length === 1 ? 'arg' : 'args'} ${list} ${names.length === 1 ? 'is not a shell variable name' : 'are not shell variable names'} (letters, digits and _, not starting with a digit): the script gets ${names.length === 1 ? 'it' : 'them'} in its environment, but bash cannot read ${names.length === 1 ? 'it' : 'them'} as $name; rename ${names.length === 1 ? 'it' : 'them'} (for example ${example})`
}

/** Why the file cannot run, or undefined. Python scripts need not be executable. */
function checkRunnable(path: string, shown: string, interpreted: boolean): string | undefined {
  if (!existsSync(path)) return `${shown} does not exist (paths are relative to the project root)`
  if (interpreted) return undefined
  try {
    accessSync(path, constants.X_OK)
    return undefined
  } catch {
    return `${shown} is not executable: run chmod +x ${shown} (and give it a #! line)`
  }
}

/** Params as environment variables: strings as they are, every other value as JSON. */
export function paramsToEnv(params: Record<string, JsonValue>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name, toArgument(value)]))
}

function toArgument(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}
