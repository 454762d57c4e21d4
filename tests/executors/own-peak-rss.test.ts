import { beforeAll, describe, expect, test } from 'vitest'
import {
  beginOwnStep,
  endOwnStep,
  noteOtherWork,
  sampleOwnResources,
  usePeakReader,
} from '../../plugin/executors/own-peak-rss.ts'

/** Touches `mib` MiB of fresh memory, so the process's peak RSS grows by about that much. */
function grow(mib: number): Buffer {
  const buffer = Buffer.allocUnsafe(mib * 1024 * 1024)
  buffer.fill(7)
  return buffer
}

// Both ways of reading the peak: getrusage, and VmHWM where maxRSS was inherited (where the
// previous step's closing reading opens the next one).
describe.each(['getrusage', 'proc'] as const)('the resources of in-process steps (peak from %s)', (kind) => {
  beforeAll(() => usePeakReader(kind))

  test("a step that raises the process's peak shows that growth; the next step, which does not, shows none", () => {
    // Above whatever the process has held so far, so its own peak must move.
    const above = Math.ceil(sampleOwnResources().peakKiB / 1024) + 64
    const first = beginOwnStep()
    const held = grow(above)
    const measured = endOwnStep(first)
    expect(held.length).toBe(above * 1024 * 1024)
    expect(measured.peakRssBytes).toBeGreaterThan(32 * 1024 * 1024)
    expect(measured.cpuMs).toBeGreaterThanOrEqual(0)
    // Whether the peak is read again at the start or taken from the previous end, no growth is no growth.
    const second = beginOwnStep()
    const quiet = endOwnStep(second)
    expect(quiet.peakRssBytes).toBeLessThan(4 * 1024 * 1024)
  })

  test('steps running side by side each get a reading of their own, and the CPU they burn is counted', () => {
    const outer = beginOwnStep()
    const inner = beginOwnStep()
    // 30 ms of this process's CPU time, however long that takes on a loaded machine (a wall-clock
    // burn got 4 ms of CPU in a CI run beside other work); at most 10 s.
    const start = process.cpuUsage()
    const giveUp = performance.now() + 10_000
    while (performance.now() < giveUp) {
      const { user, system } = process.cpuUsage(start)
      if (user + system >= 30_000) break
    }
    const innerUsage = endOwnStep(inner)
    const outerUsage = endOwnStep(outer)
    expect(innerUsage.cpuMs).toBeGreaterThan(10)
    expect(outerUsage.cpuMs).toBeGreaterThanOrEqual(innerUsage.cpuMs)
  })

  test('after work of another kind the next step reads its own start', () => {
    // However long the other work takes (growing the peak below takes a while).
    usePeakReader(kind, 60_000)
    endOwnStep(beginOwnStep())
    noteOtherWork()
    // The other work raises the process's peak (above anything it held before)...
    const held = grow(Math.ceil(sampleOwnResources().peakKiB / 1024) + 32)
    const usage = endOwnStep(beginOwnStep())
    expect(held.length).toBeGreaterThan(0)
    // ...and that growth, before the step started, is not the step's.
    expect(usage.peakRssBytes).toBeLessThan(4 * 1024 * 1024)
  })
})
