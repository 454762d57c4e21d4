import { openSync, readSync } from 'node:fs'

/**
 * This process's own peak RSS, read the cheapest way that is true here. getrusage's maxRSS
 * is the usual answer, but a process can start with its parent's peak as its own (what a
 * fork copies): a step's growth of it would then read 0 until the process outgrew its
 * parent. Linux keeps the process's own peak as VmHWM in /proc/self/status, read with one
 * pread on a file kept open; it is used when maxRSS is found inherited (checked once).
 * Returns that and the CPU time (µs) of this process, in as few system calls as it takes.
 */
export function sampleOwnResources(): { cpuMicros: number; peakKiB: number } {
  reader ??= chooseReader()
  if (reader !== maxRss) {
    const cpu = process.cpuUsage()
    return { cpuMicros: cpu.user + cpu.system, peakKiB: reader() }
  }
  const usage = process.resourceUsage()
  return { cpuMicros: usage.userCPUTime + usage.systemCPUTime, peakKiB: usage.maxRSS }
}

const maxRss = () => process.resourceUsage().maxRSS

/**
 * How recently the previous in-process step must have ended for its closing reading to open
 * the next step (REUSE_WITHIN_MS): one reading per step boundary, not two. A reading is a
 * getrusage (it sums every thread of the process) or a read of /proc/self/status, and either
 * costs more than a no-op step's own work. What the process did between the two steps (the
 * runner recording the previous step, Vitest's bookkeeping between tests: well under a
 * millisecond) is then counted in the next step's CPU time.
 */
const REUSE_WITHIN_MS = 50
let reuseWithinMs = REUSE_WITHIN_MS

/** The reading taken when the last in-process step ended, while nothing else ran since. */
let lastEnd: { cpuMicros: number; peakKiB: number; at: number } | undefined
/** In-process steps running now (parallel steps share the process). */
let running = 0

/** A step's first reading; give it back to `endOwnStep`. */
export interface OwnStepMark {
  cpuMicros: number
  peakKiB: number
}

/** Starts measuring an in-process step: this process's CPU time and own peak RSS now. */
export function beginOwnStep(): OwnStepMark {
  reader ??= chooseReader()
  const reusable = running === 0 && lastEnd !== undefined && performance.now() - lastEnd.at < reuseWithinMs
  running++
  return reusable ? lastEnd! : sampleOwnResources()
}

/** Ends an in-process step: its CPU time (ms) and how much the peak RSS grew (bytes) since `mark`. */
export function endOwnStep(mark: OwnStepMark): { cpuMs: number; peakRssBytes: number } {
  const after = sampleOwnResources()
  running = Math.max(0, running - 1)
  lastEnd = running === 0 ? { cpuMicros: after.cpuMicros, peakKiB: after.peakKiB, at: performance.now() } : undefined
  return {
    cpuMs: (after.cpuMicros - mark.cpuMicros) / 1000,
    peakRssBytes: Math.max(0, after.peakKiB - mark.peakKiB) * 1024,
  }
}

/** Work other than an in-process step ran in this process (a step of another kind): the next step reads its own start. */
export function noteOtherWork(): void {
  lastEnd = undefined
}

let reader: (() => number) | undefined

/**
 * @internal For tests: read the peak from `/proc/self/status` (as a process whose maxRSS was
 * inherited does) or from getrusage, whichever this process would have chosen; and how
 * recently the previous step must have ended for its reading to be reused.
 */
export function usePeakReader(kind: 'proc' | 'getrusage', reuseMs = REUSE_WITHIN_MS): void {
  reuseWithinMs = reuseMs
  lastEnd = undefined
  running = 0
  reader = kind === 'getrusage' ? maxRss : chooseReader(true)
  if (kind === 'proc' && reader === maxRss) throw new Error('this system has no /proc/self/status VmHWM')
}

function chooseReader(forceProc = false): () => number {
  let status: number
  try {
    status = openSync('/proc/self/status', 'r')
  } catch {
    return maxRss
  }
  const buffer = Buffer.alloc(8192)
  const highWaterMark = () => {
    const length = readSync(status, buffer, 0, buffer.length, 0)
    const text = buffer.toString('latin1', 0, length)
    const at = text.indexOf('VmHWM:')
    return at < 0 ? Number.NaN : Number.parseInt(text.slice(at + 6), 10)
  }
  const own = highWaterMark()
  if (!Number.isFinite(own)) return maxRss
  // Inherited: getrusage reports more than this process ever held (allow a page table's worth of slack).
  return forceProc || maxRss() > own + 1024 ? highWaterMark : maxRss
}
