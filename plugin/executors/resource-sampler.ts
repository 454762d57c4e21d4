import { readFileSync } from 'node:fs'
import { findStepProcesses, newestPid, type ProcessInfo, readProcessTable, type StepTree } from './process-tree.ts'
import type { StepResources } from './types.ts'

/** First sample soon after the start (short steps), then steadily. */
const FIRST_SAMPLE_MS = 10
const SAMPLE_EVERY_MS = 40
/** A sample reads all of /proc: on a machine with many processes, sample less often, so it costs at most 1/10 of a core. */
const MAX_SHARE_OF_CPU = 0.1

export interface SamplingOptions {
  /**
   * The root is a warm Python host serving the step: only its current RSS counts (its peak
   * and CPU time are its lifetime's; the host reports its step's own).
   */
  hostRoot?: boolean
}

export interface SampledResources extends StepResources {
  /** How many samples found a process of the step. */
  samples: number
}

/**
 * Samples the CPU time and memory of every process of a step (its program and all it
 * started, found through /proc) until stopped. Peak RSS is the larger of: the highest
 * VmHWM (the kernel's own peak of a process, so a spike between two samples still counts)
 * of any one process, and the highest sum of VmRSS of the processes running together.
 * CPU time is the sum of the last CPU time seen of each process.
 */
export function sampleStepResources(tree: StepTree, { hostRoot = false }: SamplingOptions = {}) {
  const cpuByProcess = new Map<string, number>()
  let peakRssBytes = 0
  let samples = 0
  // Whatever the step started came after its root, so has a higher pid: a sample reads only
  // those (a few processes, not all of /proc), until pids wrap around at pid_max.
  let fromPid = tree.root ?? 0
  let newestSeen = fromPid
  // A sample that cannot read /proc (descriptors used up: EMFILE) is skipped: figures are never worth a failed step.
  const sample = () => {
    try {
      takeSample()
    } catch {
      // The next sample tries again.
    }
  }
  const takeSample = () => {
    const newest = newestPid()
    if (newest === undefined || newest < newestSeen) fromPid = 0
    else newestSeen = newest
    const members = findStepProcesses(tree, readProcessTable(false, fromPid))
    let together = 0
    let seen = false
    for (const info of members) {
      const memory = readMemory(info.pid)
      if (!memory) continue
      seen = true
      together += memory.rss
      if (hostRoot && info.pid === tree.root) continue
      peakRssBytes = Math.max(peakRssBytes, memory.hwm)
      cpuByProcess.set(key(info), info.cpuMs)
    }
    peakRssBytes = Math.max(peakRssBytes, together)
    if (seen) samples += 1
  }
  let timer = setTimeout(function next() {
    const started = performance.now()
    sample()
    const took = performance.now() - started
    timer = setTimeout(next, Math.max(SAMPLE_EVERY_MS, took / MAX_SHARE_OF_CPU))
  }, FIRST_SAMPLE_MS)
  return {
    /**
     * Stops sampling; a step that ran long enough to be sampled gets a last sample (of what
     * its program left running). A step shorter than that pays for no scan of /proc at all.
     */
    stop(): SampledResources {
      clearTimeout(timer)
      if (samples > 0) sample()
      let cpuMs = 0
      for (const value of cpuByProcess.values()) cpuMs += value
      return { cpuMs, peakRssBytes, samples }
    },
  }
}

function key(info: ProcessInfo): string {
  return `${info.pid}:${info.startTime}`
}

/** VmRSS and VmHWM of a process, in bytes; undefined once it ended (a zombie has no memory left). */
function readMemory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rss = /\nVmRSS:\s+(\d+) kB/.exec(status)
    const hwm = /\nVmHWM:\s+(\d+) kB/.exec(status)
    if (!rss || !hwm) return undefined
    return { rss: Number(rss[1]) * 1024, hwm: Number(hwm[1]) * 1024 }
  } catch {
    return undefined
  }
}
