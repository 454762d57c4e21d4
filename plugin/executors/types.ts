import type { StepContext } from '../context/step-context.ts'
import type { RecipeStep } from '../recipe/types.ts'
import type { Invocation } from '../scriptlet/invoke.ts'

/**
 * CPU time and peak memory of a step: of its process tree, of its own part of the Python
 * host, or of this process for in-process steps (docs/logs.md, "How resources are measured").
 */
export interface StepResources {
  cpuMs: number
  /** Peak resident set size of the step's processes, or growth of this process's peak RSS for in-process steps. */
  peakRssBytes: number
  /**
   * false when the step's peak memory could not be measured (peakRssBytes is 0 then and
   * means nothing): a worker thread shares its process's memory; a program that ended
   * before its first sample.
   */
  peakRssMeasured?: false
}

/**
 * What an executor reports about one step: the scriptlet's invocation (envelope and thrown
 * error), extended with what a process adds. The runtime extends it once more into the
 * step's record (runtime/meta.ts), never re-shaping it.
 */
export interface StepExecution extends Invocation {
  /** What the step printed, for the step log and failure messages. */
  stdout: string
  stderr: string
  resources: StepResources
  /** Set by the step's deadline when it ran out of time or Vitest aborted its test (runtime/deadline.ts). */
  stopped?: 'timeout' | 'aborted'
}

export interface ExecutorInput {
  step: RecipeStep
  /** The recipe's context as this step sees it (its own writes kept apart). */
  ctx: StepContext
  /** Absolute project root; child processes run here. */
  root: string
  /** Declares a value derived from a secret, masked from then on (in-process steps call it directly). */
  declareSecret?: (value: string) => void
  /** Aborted when the step times out: executors kill what they started. (A getter: created when first read.) */
  readonly signal: AbortSignal
  /** Where the step's progress goes (tools.progress, `::progress::` lines on stderr): the terminal and the dashboard. */
  progress?: (percent: number, message?: string) => void
  /** Variables every process the step starts gets: the run's ctx server (RECIPES_CTX_URL, RECIPES_CTX_TOKEN, RECIPES_RUN_ID). */
  env?: Readonly<Record<string, string>> | undefined
}
