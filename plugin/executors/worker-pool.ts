import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import Tinypool from 'tinypool'
import type { JsonValue } from '../context/json-value.ts'
import type { KeyNamingMode } from '../context/context.ts'
import { EXIT_FAILED, errorEnvelope, type Envelope } from '../scriptlet/envelope.ts'
import type { ExecutorInput, StepExecution, StepResources } from './types.ts'

/** The worker script shipped with the package (workers/cpu-worker.mjs). */
export const CPU_WORKER = fileURLToPath(new URL('../../workers/cpu-worker.mjs', import.meta.url))

interface WorkerAnswer {
  envelope: Envelope
  writes: [string, JsonValue][]
  stderr: string
  resources: StepResources
}

/**
 * Runs CPU-bound TypeScript steps (`requires_process: true`) in worker threads, so that
 * parallel ones use every core. The scriptlet works on a copy of the context; its writes
 * come back as a patch that is applied with the step as writer. A timeout ends the thread.
 */
export class CpuWorkerPool {
  private pool: Tinypool | undefined
  private readonly keyNaming: KeyNamingMode
  private readonly valueMaxBytes: number | undefined

  constructor(keyNaming: KeyNamingMode, valueMaxBytes?: number) {
    this.keyNaming = keyNaming
    this.valueMaxBytes = valueMaxBytes
  }

  async runStep(file: string, { step, ctx, root, signal }: ExecutorInput): Promise<StepExecution> {
    this.pool ??= new Tinypool({
      filename: CPU_WORKER,
      minThreads: 0,
      maxThreads: availableParallelism(),
      idleTimeout: 30_000,
    })
    const task = {
      file,
      exportName: step.export,
      params: step.params,
      values: ctx.toJSON(),
      step: step.name,
      root,
      keyNaming: this.keyNaming,
      valueMaxBytes: this.valueMaxBytes,
    }
    let answer: WorkerAnswer
    try {
      answer = (await this.pool.run(task, { signal })) as WorkerAnswer
    } catch (error) {
      const reason = signal.aborted ? 'the worker was stopped' : `the worker thread failed: ${(error as Error).message}`
      return {
        envelope: errorEnvelope(step.name, reason, EXIT_FAILED),
        error,
        stdout: '',
        stderr: '',
        resources: { cpuMs: 0, peakRssBytes: 0, peakRssMeasured: false },
      }
    }
    let envelope = answer.envelope
    try {
      for (const [key, value] of answer.writes) ctx.set(key, value, { who: step.name })
    } catch (error) {
      envelope = errorEnvelope(step.name, (error as Error).message, EXIT_FAILED)
    }
    // A thread shares its process's memory: no figure is the step's own, so none is given.
    const resources: StepResources = { cpuMs: answer.resources.cpuMs, peakRssBytes: 0, peakRssMeasured: false }
    return { envelope, stdout: '', stderr: answer.stderr, resources }
  }

  async close(): Promise<void> {
    await this.pool?.destroy()
    this.pool = undefined
  }
}
