import { describe, expect, test } from 'vitest'
import { durationSegments, MAX_DURATION_BARS, stepDurationsSpec } from '../../plugin/charts/run-specs.ts'
import { statusColor } from '../../plugin/charts/spec-base.ts'
import { formatMs } from '../../plugin/format/run-format.ts'
import type { StepRow } from '../../plugin/store/run-data.ts'
import { stepRow } from './steps.ts'

/** The data values of a layer of a spec (the specs are plain objects). */
function layerValues(spec: object, layer: number): Record<string, unknown>[] {
  return (spec as { layer: { data: { values: Record<string, unknown>[] } }[] }).layer[layer]!.data.values
}

/**
 * The bars of a step chart as drawn: each one's lane (the y field), where it begins and ends on
 * the x axis (its x and x2 fields; a stacked duration bar has no x2) and its colour's kind.
 */
function layerBars(spec: object): { lane: string; from: number; to: number; kind: string }[] {
  const layer = (
    spec as { layer: { data: { values: Record<string, unknown>[] }; encoding: Record<string, { field?: string }> }[] }
  ).layer[0]!
  const { x, x2, y, color } = layer.encoding
  return layer.data.values.map((value) => ({
    lane: value[y!.field!] as string,
    from: value[x!.field!] as number,
    to: value[x2?.field ?? x!.field!] as number,
    kind: value[color!.field!] as string,
  }))
}

describe('durationSegments', () => {
  test("a retried step: each attempt as it ended, the last one in the step's status, then the wait", () => {
    const step = stepRow('flash', 1, {
      status: 'passed',
      durationMs: 100,
      attempts: 2,
      attemptLog: [
        { attempt: 1, status: 'failed', reason: 'timed out', durationMs: 30 },
        { attempt: 2, status: 'passed', durationMs: 20 },
      ],
    })
    expect(durationSegments(step)).toEqual([
      { part: 'attempt 1', kind: 'failed', ms: 30 },
      { part: 'attempt 2', kind: 'passed', ms: 20 },
      { part: 'wait', kind: 'wait / back-off', ms: 50 },
    ])
  })

  test('no attempt log: one segment in its status; clock crumbs are no wait; NaN, negative and huge durations stay drawable', () => {
    expect(durationSegments(stepRow('a', 1, { status: 'cached', durationMs: 4 }))).toEqual([
      { part: 'cached', kind: 'cached', ms: 4 },
    ])
    const crumbs = stepRow('b', 2, { durationMs: 10.4, attemptLog: [{ attempt: 1, status: 'passed', durationMs: 10 }] })
    expect(durationSegments(crumbs)).toHaveLength(1)
    for (const durationMs of [Number.NaN, -5, Number.POSITIVE_INFINITY])
      expect(durationSegments(stepRow('c', 3, { durationMs }))[0]!.ms).toBe(0)
    expect(durationSegments(stepRow('d', 4, { durationMs: 1e300 }))[0]!.ms).toBe(1e15)
  })
})

describe('stepDurationsSpec', () => {
  test('a bar per step in recipe order; steps that did not run are labelled with their status; colours as the tables', () => {
    const { spec, note } = stepDurationsSpec([
      stepRow('boot', 1, { durationMs: 1500 }),
      stepRow('check', 2, { status: 'failed', durationMs: 2500 }),
      stepRow('report', 3, { status: 'blocked', durationMs: 0, attempts: 0 }),
    ])
    expect(note).toBeUndefined()
    expect(layerValues(spec, 1)).toEqual([
      { row: '1. boot', value: 1.5, text: '1.50 s' },
      { row: '2. check', value: 2.5, text: '2.50 s' },
      { row: '3. report', value: 0, text: 'blocked' },
    ])
    const color = (spec as { layer: { encoding: { color: { scale: { domain: string[]; range: string[] } } } }[] })
      .layer[0]!.encoding.color.scale
    expect(color.domain).toEqual(['passed', 'failed', 'blocked'])
    expect(color.range).toEqual([statusColor('passed'), statusColor('failed'), statusColor('blocked')])
    expect(statusColor('passed')).toBe('#C6EFCE')
    expect(JSON.stringify(spec)).toContain('duration (s)')
  })

  test('a long run shows its slowest steps, in recipe order, and says so', () => {
    const steps: StepRow[] = Array.from({ length: 1000 }, (_, i) =>
      stepRow(`s${i}`, i + 1, { durationMs: (i * 37) % 1000 }),
    )
    const { spec, note } = stepDurationsSpec(steps)
    const rows = layerValues(spec, 1).map((row) => row.row as string)
    expect(rows).toHaveLength(MAX_DURATION_BARS)
    const idx = rows.map((row) => Number(row.split('.')[0]))
    expect(idx).toEqual([...idx].sort((a, b) => a - b))
    expect(note).toBe(
      `the ${MAX_DURATION_BARS} slowest of 1000 steps, in recipe order; report.xlsx (sheet Steps) has every step`,
    )
  })

  test("steps with start times are drawn on the run's clock: two that overlapped get overlapping x ranges on distinct lanes", () => {
    const { spec } = stepDurationsSpec([
      stepRow('boot', 1, { durationMs: 1000, startTime: '2026-01-05T00:00:00.000Z' }),
      stepRow('port_a', 2, { durationMs: 2000, startTime: '2026-01-05T00:00:01.000Z' }),
      stepRow('port_b', 3, { durationMs: 2000, startTime: '2026-01-05T00:00:01.500Z' }),
      stepRow('report', 4, { durationMs: 500, startTime: '2026-01-05T00:00:03.500Z' }),
    ])
    const bars = layerBars(spec)
    const a = bars.filter((bar) => bar.lane.endsWith('port_a'))
    const b = bars.filter((bar) => bar.lane.endsWith('port_b'))
    expect(a).toEqual([{ lane: '2. port_a', from: 1, to: 3, kind: 'passed' }])
    expect(b).toEqual([{ lane: '3. port_b', from: 1.5, to: 3.5, kind: 'passed' }])
    // Overlapping on the axis, on lanes of their own.
    expect(a[0]!.from < b[0]!.to && b[0]!.from < a[0]!.to).toBe(true)
    expect(a[0]!.lane).not.toBe(b[0]!.lane)
    // One after the other: the next step starts where the last one ended, not at 0.
    expect(bars.find((bar) => bar.lane.endsWith('report'))).toMatchObject({ from: 3.5, to: 4 })
    const text = JSON.stringify(spec)
    expect(text).toContain('time since the first step started (s)')
  })

  test("on the clock: a retried step's attempts where they ran, the back-off between them; a step that did not run sits after the one before it", () => {
    const { spec } = stepDurationsSpec([
      stepRow('flash', 1, {
        durationMs: 50,
        attempts: 2,
        startTime: '2026-01-05T00:00:00.000Z',
        attemptLog: [
          { attempt: 1, status: 'failed', reason: 'busy', durationMs: 30, startTime: '2026-01-05T00:00:00.000Z' },
          { attempt: 2, status: 'passed', durationMs: 20, startTime: '2026-01-05T00:00:00.230Z' },
        ],
      }),
      stepRow('report', 2, { status: 'blocked', durationMs: 0, attempts: 0, startTime: null }),
    ])
    expect(layerBars(spec)).toEqual([
      { lane: '1. flash', from: 0, to: 30, kind: 'failed' },
      { lane: '1. flash', from: 30, to: 230, kind: 'wait / back-off' },
      { lane: '1. flash', from: 230, to: 250, kind: 'passed' },
      { lane: '2. report', from: 250, to: 250, kind: 'blocked' },
    ])
    expect(layerValues(spec, 1).map((label) => [label.row, label.text])).toEqual([
      ['1. flash', `${formatMs(50)} · 2 attempts · waited ${formatMs(200)}`],
      ['2. report', 'blocked'],
    ])
  })

  test('a run stored without start times (older stores) is drawn as before: each bar from 0, in recipe order', () => {
    const { spec } = stepDurationsSpec([stepRow('a', 1, { durationMs: 100 }), stepRow('b', 2, { durationMs: 200 })])
    expect(JSON.stringify(spec)).toContain('duration (ms)')
    expect(JSON.stringify(spec)).not.toContain('time since')
  })

  test('no steps: an empty chart, not an error', () => {
    const { spec } = stepDurationsSpec([])
    expect(layerValues(spec, 0)).toEqual([])
    expect(JSON.stringify(spec)).toContain('0 steps')
  })
})
