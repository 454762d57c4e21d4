import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker } from 'node:worker_threads'
import type { DocumentCharts } from '../charts/index.ts'
import type { RunData } from '../store/run-data.ts'

/**
 * Writes Word documents in a worker thread, side by side with the workbook the main thread
 * writes: both writers are CPU-bound, and once the tests end the machine's cores are free.
 * This file is both sides: the thread (below, when loaded as a worker) and DocxThread.
 */

/** A run as the thread gets it: plain data, the ctx history as its count (the Word document lists no writes), its charts' PNGs. */
type DocxJob = {
  id: number
  data: Omit<RunData, 'history'> & { historyCount: number }
  file: string
  charts: DocumentCharts | undefined
}
type DocxAnswer = { id: number; error?: string }

/** The compiled thread next to this file; absent when the plugin runs from its TypeScript source. */
const THREAD_FILE = new URL('./docx-thread.js', import.meta.url)

export class DocxThread {
  private readonly worker: Worker
  private readonly pending = new Map<number, { done: () => void; fail: (error: Error) => void }>()
  private nextId = 0
  private broken: Error | undefined

  /** Starts the thread (it loads docx and warms it up at once), or returns undefined where it cannot run (from the TypeScript source). */
  static start(): DocxThread | undefined {
    return import.meta.url.endsWith('.js') && existsSync(fileURLToPath(THREAD_FILE)) ? new DocxThread() : undefined
  }

  private constructor() {
    this.worker = new Worker(THREAD_FILE)
    // An idle thread never keeps the process alive; a pending document does (see write).
    this.worker.unref()
    this.worker.on('message', ({ id, error }: DocxAnswer) => {
      const job = this.pending.get(id)
      this.pending.delete(id)
      if (this.pending.size === 0) this.worker.unref()
      if (error === undefined) job?.done()
      else job?.fail(new Error(error))
    })
    const stop = (error: Error) => {
      this.broken = error
      for (const job of this.pending.values()) job.fail(error)
      this.pending.clear()
    }
    this.worker.on('error', stop)
    this.worker.on('exit', (code) => stop(new Error(`the Word writer's thread exited (code ${code})`)))
  }

  /** False once the thread has failed or exited: start another. */
  get running(): boolean {
    return this.broken === undefined
  }

  /** Writes `data` as a Word document to `file`, in the thread, with `charts`. */
  write(data: RunData, file: string, charts: DocumentCharts | undefined): Promise<void> {
    if (this.broken) return Promise.reject(this.broken)
    const id = this.nextId++
    const { history, ...rest } = data
    this.worker.ref()
    return new Promise((done, fail) => {
      this.pending.set(id, { done, fail })
      // The PNGs only: a chart's SVG is no use to a Word document.
      const pictures = charts && {
        ...charts,
        charts: charts.charts.map(({ name, title, note, png, width, height }) => ({
          name,
          title,
          ...(note === undefined ? {} : { note }),
          png,
          width,
          height,
        })),
      }
      this.worker.postMessage({
        id,
        data: { ...rest, historyCount: history.count },
        file,
        charts: pictures,
      } satisfies DocxJob)
    })
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort
  const { renderDocx, writeDocx } = await import('./docx.ts')
  // The thread starts while the tests run: write the sample once, so the real documents run warm.
  await renderDocx((await import('./sample-run.ts')).sampleRun()).catch(() => {})
  port.on('message', async ({ id, data, file, charts }: DocxJob) => {
    const { historyCount, ...rest } = data
    try {
      await writeDocx({ ...rest, history: { count: historyCount, rows: () => [] } }, file, charts)
      port.postMessage({ id } satisfies DocxAnswer)
    } catch (error) {
      port.postMessage({ id, error: (error as Error).message || String(error) } satisfies DocxAnswer)
    }
  })
}
