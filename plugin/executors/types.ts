import type { StepContext } from '../context/step-context.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Envelope } from '../scriptlet/envelope.ts'

/** CPU time and peak memory of a step: of its child process, or of this process for in-process steps. */
export interface StepResources {
  cpuMs: number
  /** Peak resident set size of the child, or growth of this process's RSS for in-process steps. */
  peakRssBytes: number
}

/** What an executor reports about one step. */
export interface StepExecution {
  envelope: Envelope
  /** The thrown error behind an error envelope, kept as the test failure's `cause`. */
  error?: unknown
  /** What the step printed, for the step log and failure messages. */
  stdout: string
  stderr: string
  resources: StepResources
}

export interface ExecutorInput {
  step: RecipeStep
  /** The recipe's context as this step sees it (its own writes kept apart). */
  ctx: StepContext
  /** Absolute project root; child processes run here. */
  root: string
  /** Aborted when the step times out: executors kill what they started. */
  signal: AbortSignal
}
