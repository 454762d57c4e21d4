import { accessSync, constants, existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { JsonValue } from '../context/json-value.ts'
import { EXIT_FAILED, type Envelope, errorEnvelope } from '../scriptlet/envelope.ts'
import { runChildProcess } from './child-process.ts'
import { leaseCtxFile } from './ctx-file.ts'
import { envelopeFromOutput } from './output.ts'
import { progressWatcher } from './progress-lines.ts'
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
  const missing = isFile ? checkRunnable(path, program!, step.type === 'python') : undefined
  if (missing)
    return {
      envelope: errorEnvelope(step.name, missing, EXIT_FAILED),
      stdout: '',
      stderr: '',
      resources: { cpuMs: 0, peakRssBytes: 0 },
    }

  const ctxFile = leaseCtxFile(ctx)
  try {
    const params = step.params
    const args = [...fixedArgs, ...(Array.isArray(params) ? params.map(toArgument) : [])]
    const env = {
      ...input.env,
      ...(Array.isArray(params) ? {} : paramsToEnv(params)),
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
    return { envelope, stdout: result.stdout, stderr: result.stderr, resources: result.resources }
  } finally {
    ctxFile.release()
  }
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
