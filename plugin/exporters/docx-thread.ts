import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker } from 'node:worker_threads'
import type { ChartRun, DocumentCharts } from '../charts/index.ts'
import type { RunData, TrendRun } from '../store/run-data.ts'

/**
 * Writes Word documents, and draws the runs' charts, in a worker thread, side by side with
 * the workbook the main thread writes: all three are CPU-bound, and once the tests end the
 * machine's cores are free. This file is both sides: the thread (below, when loaded as a
 * worker) and DocxThread.
 */

/** A run as the thread gets it: plain data, the ctx history as its count (neither job lists the writes). */
type ThreadRun = Omit<RunData, 'history'> & { historyCount: number }
type DocxJob =
  | { kind: 'docx'; id: number; data: ThreadRun; file: string; charts: DocumentCharts | undefined }
  | { kind: 'charts'; id: number; data: ChartRun; trend: readonly TrendRun[] }
type DocxAnswer = { id: number; error?: string; charts?: DocumentCharts }

/** The compiled thread next to this file; absent when the plugin runs from its TypeScript source. */
const THREAD_FILE = new URL('./docx-thread.js', import.meta.url)

export class DocxThread {
  private readonly worker: Worker
  private readonly pending = new Map<number, { done: (answer: DocxAnswer) => void; fail: (error: Error) => void }>()
  private nextId = 0
  private broken: Error | undefined

  /** Starts the thread (it loads docx and the chart engines and warms them up at once), or returns undefined where it cannot run (from the TypeScript source). */
  static start(): DocxThread | undefined {
    return import.meta.url.endsWith('.js') && existsSync(fileURLToPath(THREAD_FILE)) ? new DocxThread() : undefined
  }

  private constructor() {
    this.worker = new Worker(THREAD_FILE)
    // An idle thread never keeps the process alive; a pending job does (see post).
    this.worker.unref()
    this.worker.on('message', (answer: DocxAnswer) => {
      const job = this.pending.get(answer.id)
      this.pending.delete(answer.id)
      if (this.pending.size === 0) this.worker.unref()
      if (answer.error === undefined) job?.done(answer)
      else job?.fail(new Error(answer.error))
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

  /** Writes `data` as a Word document to `file`, in the thread, with `charts` (their PNGs). */
  async write(data: RunData, file: string, charts: DocumentCharts | undefined): Promise<void> {
    // The PNGs only: a chart's SVG is no use to a Word document.
    const pictures = charts && {
      ...charts,
      charts: charts.charts.map(({ name, title, note, png, width, height, scale }) => ({
        name,
        title,
        ...(note === undefined ? {} : { note }),
        png,
        width,
        height,
        scale,
      })),
    }
    await this.post((id) => ({ kind: 'docx', id, data: threadRun(data), file, charts: pictures }))
  }

  /** Draws the run's charts in the thread (renderRunCharts there): their PNGs and SVGs (report.html shows the SVG). */
  async draw(data: RunData, trend: readonly TrendRun[]): Promise<DocumentCharts> {
    // The charts read the run and its steps only: the ctx, which can be large, stays here.
    const { charts } = await this.post((id) => ({
      kind: 'charts',
      id,
      data: { run: data.run, steps: data.steps },
      trend,
    }))
    return charts!
  }

  private post(job: (id: number) => DocxJob): Promise<DocxAnswer> {
    if (this.broken) return Promise.reject(this.broken)
    const id = this.nextId++
    this.worker.ref()
    return new Promise((done, fail) => {
      this.pending.set(id, { done, fail })
      this.worker.postMessage(job(id))
    })
  }
}

function threadRun(data: RunData): ThreadRun {
  const { history, ...rest } = data
  return { ...rest, historyCount: history.count }
}

if (!isMainThread && parentPort) {
  const port = parentPort
  const [{ renderDocx, writeDocx }, { preloadCharts, renderRunCharts }, { sampleRun }] = await Promise.all([
    import('./docx.ts'),
    import('../charts/index.ts'),
    import('../store/sample-run.ts'),
  ])
  // The thread starts while the tests run: write the sample once and draw a few charts, so the real ones run warm.
  preloadCharts()
  await renderDocx(sampleRun()).catch(() => {})
  port.on('message', async (job: DocxJob) => {
    try {
      if (job.kind === 'docx') {
        const { historyCount, ...rest } = job.data
        await writeDocx({ ...rest, history: { count: historyCount, rows: () => [] } }, job.file, job.charts)
        port.postMessage({ id: job.id } satisfies DocxAnswer)
      } else {
        port.postMessage({ id: job.id, charts: await renderRunCharts(job.data, job.trend) } satisfies DocxAnswer)
      }
    } catch (error) {
      port.postMessage({ id: job.id, error: (error as Error).message || String(error) } satisfies DocxAnswer)
    }
  })
}
