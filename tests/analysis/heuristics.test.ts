import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { analyzeStoredRun } from '../../plugin/analysis/index.ts'
import { baselineOf, robustZ } from '../../plugin/analysis/baseline.ts'
import { heuristicFindings } from '../../plugin/analysis/heuristics.ts'
import { analysisProblems } from '../../plugin/analysis/options.ts'
import type { PastRun, PastStep } from '../../plugin/store/past-runs.ts'
import type { RunData, StepRow } from '../../plugin/store/run-data.ts'
import { RunStore } from '../../plugin/store/run-store.ts'
import { stepRow } from '../store/rows.ts'

const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-analysis-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const OPTIONS = { minRuns: 5, threshold: 3.5 }

const step = (name: string, extra: Partial<StepRow> = {}): StepRow =>
  stepRow(name, { durationMs: 100, cpuMs: 50, peakRssBytes: 100 * 1024 * 1024, ...extra })

function runOf(steps: StepRow[], status = 'passed'): RunData {
  return {
    run: {
      runId: 'now',
      testId: 'SW-001',
      recipe: 'recipes/sw.yaml',
      startTime: '2026-11-30T10:00:00.000Z',
      endTime: '2026-11-30T10:00:01.000Z',
      status,
      host: 'h',
      vitestVersion: '4.1.0',
      metadata: {},
    },
    steps,
    context: [],
    history: { count: 0, rows: () => [] },
    analysis: undefined,
  }
}

/** `n` earlier runs, newest first, whose step `name` took durations[i] and reported throughput[i]. */
function history(n: number, make: (i: number) => Partial<PastStep> & { step?: string }, status = 'passed'): PastRun[] {
  return Array.from({ length: n }, (_, i) => ({
    runId: `past-${i}`,
    startTime: `2026-11-29T10:00:${String(i).padStart(2, '0')}.000Z`,
    status,
    steps: [
      {
        step: 'measure',
        idx: 1,
        status: 'passed',
        durationMs: 100,
        cpuMs: 50,
        peakRssBytes: 100 * 1024 * 1024,
        attempts: 1,
        metrics: {},
        ...make(i),
      },
    ],
  }))
}

describe('baseline', () => {
  test('median and MAD ignore one wild value; the robust z of a typical value stays small', async () => {
    const baseline = baselineOf([10, 11, 9, 10, 10, 1000])!
    expect(baseline.median).toBe(10)
    expect(baseline.mad).toBe(0.5)
    expect(Math.abs(robustZ(10.5, baseline))).toBeLessThan(1)
    expect(robustZ(20, baseline)).toBeGreaterThan(10)
  })

  test('identical history: any other value is unbounded, the same value is 0; non-finite values are left out', async () => {
    const baseline = baselineOf([5, 5, 5, Number.NaN, Number.POSITIVE_INFINITY])!
    expect(baseline.n).toBe(3)
    expect(robustZ(5, baseline)).toBe(0)
    expect(robustZ(6, baseline)).toBe(Number.POSITIVE_INFINITY)
    expect(baselineOf([Number.NaN])).toBeUndefined()
  })
})

describe('heuristicFindings', () => {
  test('a run with no history says so and calls nothing an anomaly', async () => {
    const found = heuristicFindings(runOf([step('measure', { durationMs: 99_999 })]), [], OPTIONS)
    expect(found.lines).toEqual([
      'Heuristic: No history: this is the first finished run of SW-001 in this store, so nothing is compared.',
    ])
    expect(found.data.anomalies).toEqual([])
  })

  test('fewer than minRuns passing runs: says how many there are and how many are needed', async () => {
    const past = [...history(4, () => ({})), ...history(3, () => ({}), 'failed')]
    const found = heuristicFindings(runOf([step('measure', { durationMs: 99_999 })]), past, OPTIONS)
    expect(found.lines[0]).toBe(
      'Heuristic: Only 4 earlier passing runs of SW-001: 5 are needed before a value is called an anomaly.',
    )
    expect(found.data.anomalies).toEqual([])
  })

  test('a duration and a metric far outside their history are anomalies, with the numbers behind them', async () => {
    const past = history(8, (i) => ({ durationMs: 100 + (i % 3), metrics: { throughput: 940 + (i % 4) } }))
    const now = step('measure', { durationMs: 400, envelope: { metrics: { throughput: 470 } } })
    const found = heuristicFindings(runOf([now]), past, OPTIONS)
    expect(found.lines).toContain(
      'Heuristic: Compared with the 8 latest passing runs of SW-001 (median and MAD of each figure; an anomaly is a robust z beyond ±3.5): 4 figures, 2 outside.',
    )
    const duration = found.lines.find((line) => line.includes('took'))!
    expect(duration).toMatch(
      /^Heuristic: Anomaly: step measure took 400\.0 ms, against a median of 101\.0 ms \(MAD 1\.0 ms\) over 8 passing runs: \+296%, robust z 201\.7\.$/,
    )
    const metric = found.lines.find((line) => line.includes('throughput'))!
    expect(metric).toMatch(/reported throughput = 470, against a median of 941\.5 \(MAD 1\) over 8 passing runs: -50%/)
    expect(found.data.anomalies).toHaveLength(2)
  })

  test('values inside their spread, or changes under the noise floors, are not anomalies', async () => {
    const past = history(6, (i) => ({ durationMs: 100 + i * 20 }))
    // 3 ms more than a history that never varied: beyond any z, but under the 10 ms floor.
    const steady = history(6, () => ({ durationMs: 2 }))
    expect(heuristicFindings(runOf([step('measure', { durationMs: 150 })]), past, OPTIONS).data.anomalies).toEqual([])
    const found = heuristicFindings(runOf([step('measure', { durationMs: 5 })]), steady, OPTIONS)
    expect(found.data.anomalies).toEqual([])
    expect(found.lines.at(-1)).toMatch(/3 figures, all within their history\.$/)
  })

  test('a metric that never moved and now does is an anomaly with an unbounded z', async () => {
    const past = history(5, () => ({ metrics: { 'loss.packets': 0 } }))
    const found = heuristicFindings(
      runOf([step('measure', { envelope: { metrics: { loss: { packets: 3 } } } })]),
      past,
      OPTIONS,
    )
    expect(found.lines.join('\n')).toContain(
      'reported loss.packets = 3, against a median of 0 (MAD 0) over 5 passing runs: +3 from 0, robust z unbounded (every earlier value was the same)',
    )
    expect(found.data.anomalies).toEqual([expect.objectContaining({ measure: 'loss.packets', z: 'inf' })])
  })

  test('CPU and memory well above their history are resource hogs; below it they are not', async () => {
    const past = history(6, (i) => ({ cpuMs: 50 + i, peakRssBytes: (100 + i) * 1024 * 1024 }))
    const hog = heuristicFindings(
      runOf([step('measure', { cpuMs: 400, peakRssBytes: 900 * 1024 * 1024 })]),
      past,
      OPTIONS,
    )
    expect(hog.data.resource_hogs).toEqual(['measure:cpu_ms', 'measure:peak_rss_bytes'])
    expect(hog.lines.filter((line) => line.startsWith('Heuristic: Resource hog: step measure'))).toHaveLength(2)
    const thrifty = heuristicFindings(
      runOf([step('measure', { cpuMs: 5, peakRssBytes: 20 * 1024 * 1024 })]),
      past,
      OPTIONS,
    )
    expect(thrifty.data.resource_hogs).toEqual([])
  })

  test('new failures and fixed steps against the previous run, flaky steps with their history', async () => {
    const previous: PastRun = {
      runId: 'prev',
      startTime: '2026-11-30T09:00:00.000Z',
      status: 'failed',
      steps: [
        {
          step: 'link',
          idx: 1,
          status: 'passed',
          durationMs: 10,
          cpuMs: 1,
          peakRssBytes: null,
          attempts: 1,
          metrics: {},
        },
        {
          step: 'ping',
          idx: 2,
          status: 'failed',
          durationMs: 10,
          cpuMs: 1,
          peakRssBytes: null,
          attempts: 3,
          metrics: {},
        },
        {
          step: 'load',
          idx: 3,
          status: 'passed',
          durationMs: 10,
          cpuMs: 1,
          peakRssBytes: null,
          attempts: 2,
          metrics: {},
        },
      ],
    }
    const data = runOf(
      [
        step('link', { status: 'failed', reason: 'port down' }),
        step('ping'),
        step('load', { attempts: 3 }),
        step('fresh', { attempts: 2 }),
      ],
      'failed',
    )
    const found = heuristicFindings(data, [previous], OPTIONS)
    expect(found.lines).toEqual([
      'Heuristic: Only 0 earlier passing runs of SW-001: 5 are needed before a value is called an anomaly.',
      'Heuristic: New failure: link failed; it passed in the previous run (prev, failed).',
      'Heuristic: Fixed: ping passed; it failed in the previous run (prev, failed).',
      'Heuristic: Flaky: load passed only on attempt 3; it failed or needed a retry in 1 of its 1 earlier runs.',
      'Heuristic: Flaky: fresh passed only on attempt 2; no earlier run to compare.',
    ])
    expect(found.data).toMatchObject({ new_failures: ['link'], fixed: ['ping'] })
  })
})

describe('heuristicFindings of a selection run (-t)', () => {
  const SELECTION = { selected: ['measure'], setup: ['boot'] }
  const selectionRun = (steps: StepRow[]): RunData => {
    const data = runOf(steps)
    data.run.metadata = { selection: SELECTION }
    return data
  }
  const withSetup = (run: PastRun, bootStatus = 'setup'): PastRun => ({
    ...run,
    selection: SELECTION,
    steps: [{ ...run.steps[0]!, step: 'boot', idx: 0, status: bootStatus }, ...run.steps],
  })

  test('a full run is compared only with full runs, a selection run only with runs of the same selection', () => {
    const full = history(6, () => ({ durationMs: 100 }))
    const selected = history(6, () => ({ durationMs: 400 })).map((run) => withSetup(run))
    const other = history(6, () => ({ durationMs: 900 })).map((run) => ({
      ...run,
      selection: { selected: ['other'], setup: [] },
    }))
    // Newest first, interleaved: a full run of 100 ms is no anomaly against full runs, whatever the selection runs took.
    const past = full.flatMap((run, i) => [selected[i]!, run, other[i]!])
    const fullFound = heuristicFindings(runOf([step('measure', { durationMs: 100 })]), past, OPTIONS)
    expect(fullFound.data).toMatchObject({ history_runs: 6, baseline_runs: 6, anomalies: [] })
    const found = heuristicFindings(
      selectionRun([step('boot', { status: 'setup', durationMs: 400 }), step('measure', { durationMs: 400 })]),
      past,
      OPTIONS,
    )
    expect(found.data).toMatchObject({
      subject: 'SW-001 (-t measure)',
      history_runs: 6,
      baseline_runs: 6,
      anomalies: [],
      new_failures: [],
      fixed: [],
    })
    // ... and with no earlier run of its selection, it says so.
    expect(heuristicFindings(selectionRun([step('measure')]), full, OPTIONS).lines[0]).toBe(
      'Heuristic: No history: this is the first finished run of SW-001 (-t measure) in this store, so nothing is compared.',
    )
  })

  test('a step that ran as setup counts as passed: never a new failure or a fix by that alone; its failure is new', () => {
    const previous = withSetup(history(1, () => ({}))[0]!)
    const passedAsSetup = heuristicFindings(selectionRun([step('boot', { status: 'passed' })]), [previous], OPTIONS)
    expect(passedAsSetup.data).toMatchObject({ new_failures: [], fixed: [] })
    const failed = heuristicFindings(selectionRun([step('boot', { status: 'failed' })]), [previous], OPTIONS)
    expect(failed.data).toMatchObject({ new_failures: ['boot'] })
  })
})

describe('analyzeStoredRun', () => {
  test('reads the baseline from the store: passing runs of the same test_id before this run, newest first', async () => {
    const store = await RunStore.open(join(dir, 'history.sqlite'))
    const record = async (
      runId: string,
      minute: number,
      durationMs: number,
      status: 'passed' | 'failed',
      testId = 'SW-9',
    ) => {
      await store.beginRun({
        runId,
        testId,
        recipe: 'recipes/sw9.yaml',
        startTime: `2026-11-30T10:${String(minute).padStart(2, '0')}:00.000Z`,
        vitestVersion: '4.1.0',
        metadata: {},
      })
      await store.recordStep(
        runId,
        {
          step: 'measure',
          idx: 1,
          status,
          durationMs,
          cpuMs: 0,
          peakRssBytes: null,
          exitCode: 0,
          attempts: 1,
          reason: null,
          logPath: null,
          envelope: { metrics: { rate: durationMs } },
        },
        [],
        [],
      )
      await store.finishRun(runId, status, `2026-11-30T10:${String(minute).padStart(2, '0')}:30.000Z`)
    }
    for (let i = 0; i < 6; i++) await record(`r${i}`, i, 100 + i, 'passed')
    await record('other-test', 7, 5, 'passed', 'SW-10')
    await record('r-failed', 8, 3000, 'failed')
    await record('now', 9, 900, 'passed')
    await record('later', 10, 100, 'passed')
    const data = (await store.readRun('now'))!
    expect((await store.pastRuns(data.run, 3)).map((run) => run.runId)).toEqual(['r-failed', 'r5', 'r4'])
    const analysis = await analyzeStoredRun(store, data, { minRuns: 5 })
    await store.recordAnalysis('now', analysis)
    const stored = (await store.readRun('now'))!.analysis!
    await store.close()
    expect(stored.summaryText).toContain('Compared with the 6 latest passing runs of SW-9')
    expect(stored.summaryText).toContain('Heuristic: Anomaly: step measure took 900.0 ms')
    expect(stored.summaryText).toContain(
      'Heuristic: Anomaly: step measure reported rate = 900, against a median of 102.5',
    )
    expect(stored.metrics.heuristic).toMatchObject({ history_runs: 7, baseline_runs: 6, min_runs: 5 })
    expect(stored.ai).toBeUndefined()
  })

  test('the store gives a run the earlier runs of the same steps only: full runs, or runs of the same -t selection', async () => {
    const store = await RunStore.open(join(dir, 'selection.sqlite'))
    const record = async (runId: string, minute: number, selected?: string[]) => {
      const metadata = selected ? { selection: { selected, setup: ['boot'] } } : {}
      const startTime = `2026-11-30T11:${String(minute).padStart(2, '0')}:00.000Z`
      await store.beginRun({
        runId,
        testId: 'SW-S',
        recipe: 'recipes/s.yaml',
        startTime,
        vitestVersion: '4.1.0',
        metadata,
      })
      await store.recordStep(runId, stepRow('measure'), [], [])
      await store.finishRun(runId, 'passed', startTime.replace(':00.000Z', ':30.000Z'))
    }
    await record('full-1', 1)
    await record('sel-1', 2, ['measure'])
    await record('other-1', 3, ['measure', 'report'])
    await record('full-2', 4)
    await record('sel-2', 5, ['measure'])
    const ids = async (runId: string) =>
      (await store.pastRuns({ runId, testId: 'SW-S', recipe: 'recipes/s.yaml' }, 10)).map((run) => run.runId)
    expect(await ids('full-2')).toEqual(['full-1'])
    expect(await ids('sel-2')).toEqual(['sel-1'])
    expect(await ids('other-1')).toEqual([])
    expect((await store.pastRuns({ runId: 'sel-2', testId: 'SW-S', recipe: '' }, 1))[0]!.selection).toEqual({
      selected: ['measure'],
      setup: ['boot'],
    })
    // The trend of a run is drawn from its own kind of runs too.
    expect((await store.trend('SW-S', 'full-2', 10)).map((run) => run.runId)).toEqual(['full-1', 'full-2'])
    await store.close()
  })

  test("a run with vars (a matrix combination's, a device's) is compared with earlier runs that had the same vars", async () => {
    const store = await RunStore.open(join(dir, 'vars.sqlite'))
    const record = async (runId: string, minute: number, vars?: Record<string, string | number>) => {
      const startTime = `2026-11-30T12:${String(minute).padStart(2, '0')}:00.000Z`
      await store.beginRun({
        runId,
        testId: 'SW-V',
        recipe: 'recipes/v.yaml',
        startTime,
        vitestVersion: '4.1.0',
        metadata: vars ? { vars, vars_from: {} } : {},
      })
      await store.recordStep(runId, stepRow('measure'), [], [])
      await store.finishRun(runId, 'passed', startTime.replace(':00.000Z', ':30.000Z'))
    }
    await record('plain-1', 1)
    await record('sw1-1', 2, { dut: 'sw1', ports: 48 })
    await record('sw2-1', 3, { dut: 'sw2', ports: 48 })
    await record('sw1-24', 4, { dut: 'sw1', ports: 24 })
    await record('sw1-2', 5, { dut: 'sw1', ports: 48 })
    await record('sw2-2', 6, { dut: 'sw2', ports: 48 })
    await record('plain-2', 7)
    const ids = async (runId: string) =>
      (await store.pastRuns({ runId, testId: 'SW-V', recipe: 'recipes/v.yaml' }, 10)).map((run) => run.runId)
    expect(await ids('sw1-2')).toEqual(['sw1-1'])
    expect(await ids('sw2-2')).toEqual(['sw2-1'])
    expect(await ids('plain-2')).toEqual(['plain-1'])
    expect((await store.trend('SW-V', 'sw2-2', 10)).map((run) => run.runId)).toEqual(['sw2-1', 'sw2-2'])
    await store.close()
  })
})

describe('analysisProblems', () => {
  test('accepts the documented shapes and names every wrong field', async () => {
    expect(analysisProblems(undefined)).toEqual([])
    expect(
      analysisProblems({
        history: 30,
        minRuns: 8,
        threshold: 4,
        ai: { endpoint: 'http://127.0.0.1:1/v1', model: 'm' },
      }),
    ).toEqual([])
    expect(
      analysisProblems({
        history: 0,
        minRuns: 3,
        threshold: -1,
        ai: { endpoint: 'https://user:pw@x/v1', model: '', apiKeyEnv: 'sk-123 456', timeoutMs: 1.5 },
      }),
    ).toEqual([
      'analysis.history must be a number of runs (1 or more), not 0',
      'analysis.minRuns must be 5 or more (fewer runs say too little to call a value an anomaly), not 3',
      'analysis.threshold must be a positive number (3.5 is usual), not -1',
      'analysis.ai.endpoint must not hold credentials: name the environment variable of the key in analysis.ai.apiKeyEnv',
      'analysis.ai.model must name a model, not ""',
      'analysis.ai.apiKeyEnv must be the name of an environment variable, like LAB_AI_KEY (the key itself never goes in the config)',
      'analysis.ai.timeoutMs must be a number of milliseconds, not 1.5',
    ])
    expect(analysisProblems({ ai: { endpoint: 'ftp://x', model: 'm' } })[0]).toMatch(
      /^analysis\.ai\.endpoint must be the http/,
    )
  })
})
