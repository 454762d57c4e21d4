import { setTimeout as sleep } from 'node:timers/promises'
import type { StepExecution } from '../executors/types.ts'
import type { MaybePromise } from '../scriptlet/maybe-async.ts'
import { EXIT_FAILED, errorEnvelope } from '../scriptlet/envelope.ts'

/**
 * The reason of an abort that comes from the runner itself, not from Vitest (a lab resource
 * the step used was lost): the step fails with its message.
 */
export class StepStopped extends Error {
  override name = 'StepStopped'
}

/**
 * The one owner of a step's time. Runs the step with its deadline (resolved once, by the
 * caller, from the recipe's `timeout`, the plugin's `stepTimeout` and the default) and
 * with Vitest's own abort signal for the test: whichever fires first aborts the step's
 * signal, so executors kill the processes and workers they started. An in-process
 * TypeScript step cannot be stopped, only abandoned: it sees `tools.signal`, and the
 * caller refuses its later ctx writes once this returns.
 *
 * A step that completes synchronously (an in-process scriptlet that awaits nothing) could
 * not have been interrupted by a timer anyway: its result comes back at once, and no
 * deadline, listener or promise is created for it.
 */
export function runWithDeadline(
  timeoutMs: number,
  /** How long a stopped step gets to report before the runner moves on (step-deadline.ts). */
  reportWaitMs: number,
  step: string,
  testSignal: AbortSignal | undefined,
  /** What the executor was given: `stop` aborts the signal it got (executors kill what they started). */
  stoppable: { stop(): void },
  run: () => MaybePromise<StepExecution>,
  onStop?: (why: 'timeout' | 'aborted') => void,
): MaybePromise<StepExecution> {
  const startedAt = performance.now()
  const running = run()
  if (!(running instanceof Promise) && !testSignal?.aborted) return running
  return race(
    Promise.resolve(running),
    startedAt + timeoutMs,
    reportWaitMs,
    step,
    testSignal,
    stoppable,
    timeoutMs,
    onStop,
  )
}

/** Waits for the first of the step, its deadline (at `deadlineAt`, on performance.now()'s clock) and Vitest's abort. */
async function race(
  running: Promise<StepExecution>,
  deadlineAt: number,
  reportWaitMs: number,
  step: string,
  testSignal: AbortSignal | undefined,
  stoppable: { stop(): void },
  timeoutMs: number,
  onStop: ((why: 'timeout' | 'aborted') => void) | undefined,
): Promise<StepExecution> {
  // One promise settles with whichever comes first: the step, its deadline, Vitest's abort.
  let settle!: (outcome: StepExecution | 'timeout' | 'aborted') => void
  let fail!: (error: unknown) => void
  const first = new Promise<StepExecution | 'timeout' | 'aborted'>((resolve, reject) => {
    settle = resolve
    fail = reject
  })
  const cancelDeadline = deadlines.add(deadlineAt, () => settle('timeout'))
  const onAbort = () => settle('aborted')
  if (testSignal?.aborted) settle('aborted')
  else testSignal?.addEventListener('abort', onAbort, { once: true })
  // An executor never rejects (it reports failures in its envelope); if one did, the step fails with it.
  running.then(settle, fail)
  try {
    const outcome = await first
    if (typeof outcome !== 'string') return outcome
    stoppable.stop()
    // From here on the step is over, whatever it still does while its processes are killed.
    onStop?.(outcome)
    // Killed processes report what they printed before the kill; an in-process step may never return.
    const killed = await Promise.race([running, sleep(reportWaitMs).then(() => undefined)])
    const seconds = timeoutMs / 1000
    const stoppedBy = testSignal?.reason instanceof StepStopped ? testSignal.reason.message : undefined
    const reason =
      outcome === 'timeout'
        ? `timed out after ${seconds} s`
        : (stoppedBy ?? 'stopped: Vitest aborted the test (its timeout, or the run was cancelled)')
    return {
      envelope: errorEnvelope(step, reason, EXIT_FAILED, outcome === 'timeout' ? { timeout_sec: seconds } : {}),
      stdout: killed?.stdout ?? '',
      stderr: killed?.stderr ?? '',
      resources: killed?.resources ?? { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false },
      stopped: outcome,
    }
  } finally {
    cancelDeadline()
    testSignal?.removeEventListener('abort', onAbort)
  }
}

/**
 * The deadlines of the steps running in this worker, on one timer: a setTimeout and a
 * clearTimeout per step cost more than a no-op step. The timer is armed for the earliest
 * deadline and left armed when a step ends early (it fires, finds nothing due, and re-arms
 * for the next): for steps one after the other it fires about once per step timeout. It
 * does not keep the process alive: a running step does.
 */
class Deadlines {
  private readonly pending = new Set<{ at: number; fire: () => void }>()
  private timer: NodeJS.Timeout | undefined
  private armedFor = Number.POSITIVE_INFINITY

  /** Calls `fire` at `at` (performance.now()'s clock) unless the returned function is called first. */
  add(at: number, fire: () => void): () => void {
    const entry = { at, fire }
    this.pending.add(entry)
    if (entry.at < this.armedFor) this.arm(entry.at)
    return () => {
      this.pending.delete(entry)
    }
  }

  private arm(at: number): void {
    clearTimeout(this.timer)
    this.armedFor = at
    // Past 2^31 - 1 ms setTimeout fires at once: a longer wait is taken in parts.
    this.timer = setTimeout(() => this.expire(), Math.min(Math.max(0, at - performance.now()), 2 ** 31 - 1))
    this.timer.unref()
  }

  private expire(): void {
    this.timer = undefined
    this.armedFor = Number.POSITIVE_INFINITY
    // A timer may fire a little early: what is due within a millisecond is due now.
    const now = performance.now() + 1
    let next = Number.POSITIVE_INFINITY
    for (const entry of this.pending) {
      if (entry.at <= now) {
        this.pending.delete(entry)
        entry.fire()
      } else next = Math.min(next, entry.at)
    }
    if (next < Number.POSITIVE_INFINITY) this.arm(next)
  }
}

const deadlines = new Deadlines()
