import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RecipeStep } from '../recipe/types.ts'
import type { Envelope } from '../scriptlet/envelope.ts'

/**
 * A step that did not end as its recipe expects. Reads like an execa error: one line
 * with step, scriptlet, exit code and reason; the thrown error, if any, is the `cause`
 * and lends its stack frames (`lendFrames`) so the code frame shows where the scriptlet threw.
 */
export class StepFailedError extends Error {
  override name = 'StepFailedError'
  readonly step: string
  readonly envelope: Envelope
  /** What went wrong, without the step's name and place (the reason the record keeps). */
  readonly problem: string

  constructor(step: RecipeStep, envelope: Envelope, problem: string, cause?: unknown) {
    const where = `${step.locations.step.file}:${step.locations.step.line}`
    super(
      `Step "${step.name}" (${describeScriptlet(step)}, ${where}) ${problem}`,
      cause === undefined ? undefined : { cause },
    )
    this.step = step.name
    this.envelope = envelope
    this.problem = problem
    this.stack = [`${this.name}: ${this.message}`, ...lendFrames(cause)].join('\n')
  }
}

// This package's own code, as source (this repository) or built (installed): its two folders.
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const OWN_FOLDERS = ['dist', 'plugin'].map((folder) => join(PACKAGE_ROOT, folder) + sep)

/**
 * The frames of the error a step threw, the user's (scriptlets, their libraries) first and
 * this package's after them, so the code frame a reporter shows is the user's line even when
 * the throw came from inside the plugin (a refused `ctx.set`). The cause keeps only its first
 * lines: reporters print it under "Caused by", and its frames are shown here already.
 */
function lendFrames(cause: unknown): string[] {
  if (!(cause instanceof Error) || typeof cause.stack !== 'string') return []
  const lines = cause.stack.split('\n')
  const first = lines.findIndex((line) => STACK_FRAME.test(line))
  if (first === -1) return []
  const frames = lines.slice(first).filter((line) => STACK_FRAME.test(line))
  try {
    cause.stack = lines.slice(0, first).join('\n')
  } catch {
    // A frozen error keeps its stack; its frames are then shown twice, which is harmless.
  }
  const own = frames.filter(isOwnFrame)
  return [...frames.filter((line) => !isOwnFrame(line)), ...own]
}

const STACK_FRAME = /^\s+at /

function isOwnFrame(line: string): boolean {
  let text = line
  try {
    text = decodeURI(line)
  } catch {
    // Not URI-encoded text: the line as it is.
  }
  return OWN_FOLDERS.some((folder) => text.includes(folder))
}

/** A step selected on its own whose filtered-out dependency, run first as setup, failed. */
export class SetupStepFailedError extends Error {
  override name = 'SetupStepFailedError'
  constructor(step: string, setup: string, cause: unknown) {
    super(`Step "${step}" could not run: "${setup}", which it needs and which ran first as setup, failed`, { cause })
    this.stack = `${this.name}: ${this.message}`
  }
}

export function describeScriptlet(step: RecipeStep): string {
  if (step.type === 'ts') return `${step.module}${step.export ? `#${step.export}` : ''}`
  if (step.type === 'python' && step.module !== undefined)
    return `python ${step.module}${step.export ? `#${step.export}` : ''}`
  const command = Array.isArray(step.command) ? step.command.join(' ') : step.command
  return `${step.type} ${step.module ?? command ?? ''}`.trim()
}
