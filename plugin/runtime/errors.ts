import type { RecipeStep } from '../recipe/types.ts'
import type { Envelope } from '../scriptlet/envelope.ts'

/**
 * A step that did not end as its recipe expects. Reads like an execa error: one line
 * with step, scriptlet, exit code and reason; the thrown error, if any, is the `cause`
 * and lends its stack frames so the code frame shows where the scriptlet threw.
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
    const frames = cause instanceof Error ? cause.stack?.split('\n').filter((line) => /^\s+at /.test(line)) : undefined
    this.stack = [`${this.name}: ${this.message}`, ...(frames ?? [])].join('\n')
  }
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
