import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { exportRun } from '../../plugin/exporters/index.ts'
import type { RunData, StepRow, StepStatus } from '../../plugin/store/run-data.ts'
import { stepRow } from '../store/rows.ts'

// The documents as a person prints them: LibreOffice turns each into a PDF (one soffice
// call for all of them), and poppler reads the pages back.

/** LibreOffice and poppler-utils (pdftotext, pdfinfo); CI installs both (.ci/run). */
const hasTools = () =>
  spawnSync('soffice', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('pdftotext', ['-v'], { stdio: 'ignore' }).status === 0

const STATUSES: StepStatus[] = ['passed', 'failed', 'blocked']

/** A run of `count` steps with long names, long reasons and every kind of status; step 10 and on have two-digit numbers. */
function printRun(runId: string, count: number, nameLength: number): RunData {
  const steps = Array.from({ length: count }, (_, i): StepRow => {
    const idx = i + 1
    const status = STATUSES[i % STATUSES.length]!
    const name = `${'verify_firmware_signature_on_every_port_after_reboot'.slice(0, nameLength - 4).replace(/_$/, '')}_${String(idx).padStart(3, '0')}`
    return stepRow(name, {
      idx,
      status,
      durationMs: 1234.5 * idx,
      exitCode: status === 'failed' ? 17 : status === 'blocked' ? null : 0,
      reason:
        status === 'passed'
          ? null
          : `the switch under test answered with a checksum that does not match the signed image for port ${idx}, so the step ${status} (see the log) endmark${idx}`,
      params: { port: idx, mode: 'strict', expected: 'sha256:0123456789abcdef' },
      envelope: { status: 'ok', outputs: [`ports.p${idx}.signature_v1`], metrics: { latency_ms: idx / 3 } },
      logPath: `Logs/${name}.log`,
    })
  })
  return {
    run: {
      runId,
      testId: 'LAB-PRINT',
      recipe: 'recipes/print.yaml',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: '2026-01-01T01:00:00.000Z',
      status: 'failed',
      host: 'lab-host',
      vitestVersion: '4.1.0',
      metadata: { test_meta: { test_id: 'LAB-PRINT', description: 'Printing the reports', tester: 'ann' } },
    },
    steps,
    context: steps.map((step) => ({
      key: `ports.p${step.idx}.signature_v1`,
      value: { ok: step.status === 'passed', sha: 'sha256:0123456789abcdef0123456789abcdef', port: step.idx },
      who: step.step,
      ts: '2026-01-01T00:00:00.000Z',
    })),
    history: { count: 0, rows: () => [] },
    analysis: undefined,
  }
}

/** The text of each page of a PDF, laid out as printed. */
function pages(pdf: string): string[] {
  const result = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.split('\f').slice(0, -1)
}

/** Each page's size in points and the right edge of its rightmost word (pdftotext -bbox). */
function pageExtents(pdf: string): { width: number; height: number; right: number }[] {
  const result = spawnSync('pdftotext', ['-bbox', pdf, '-'], { encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
    .split('<page ')
    .slice(1)
    .map((page) => ({
      width: Number(/width="([\d.]+)"/.exec(page)![1]),
      height: Number(/height="([\d.]+)"/.exec(page)![1]),
      right: Math.max(0, ...[...page.matchAll(/xMax="([\d.]+)"/g)].map((match) => Number(match[1]))),
    }))
}

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(!hasTools() && !process.env.CI)('printing the reports (LibreOffice to PDF)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vitest-recipes-print-'))
  afterAll(() => (process.env.KEEP_PRINT ? console.log(dir) : rmSync(dir, { recursive: true, force: true })))
  const short = printRun('short', 12, 40)
  const long = printRun('long', 100, 30)
  /** The PDF of a run's document (`run`/report.`format`). */
  const pdf = (run: string, format: string) => join(dir, 'pdf', `${run}-${format}.pdf`)

  beforeAll(async () => {
    for (const data of [short, long]) {
      const outcomes = await exportRun(data, join(dir, data.run.runId), ['docx', 'xlsx'])
      expect(outcomes.filter((outcome) => outcome.error)).toEqual([])
    }
    // One conversion for every document: soffice takes seconds to start.
    mkdirSync(join(dir, 'in'))
    const inputs = [
      ['short', 'docx'],
      ['long', 'docx'],
      ['long', 'xlsx'],
    ].map(([run, format]) => {
      const file = join(dir, 'in', `${run}-${format}.${format}`)
      copyFileSync(join(dir, run!, `report.${format}`), file)
      return file
    })
    const profile = mkdtempSync(join(tmpdir(), 'vitest-recipes-lo-profile-'))
    try {
      const result = spawnSync(
        'soffice',
        [
          `-env:UserInstallation=file://${profile}`,
          '--headless',
          '--norestore',
          '--convert-to',
          'pdf',
          '--outdir',
          join(dir, 'pdf'),
          ...inputs,
        ],
        { encoding: 'utf8', timeout: 180_000 },
      )
      expect(result.error, 'install LibreOffice (.ci/run does)').toBeUndefined()
    } finally {
      rmSync(profile, { recursive: true, force: true })
    }
  }, 240_000)

  /** A row of the Word summary table as printed: number, name and status whole, on one line. */
  const summaryRow = (step: StepRow) =>
    new RegExp(`^\\s*${step.idx}\\s+${literal(step.step)}\\s+${step.status}\\s+\\d`, 'm')
  const summaryHeader = /^\s*#\s+step\s+status\s+duration\s+exit\s+reason\s*$/m

  test('report.docx: no number, status, name or header word of the step table is broken inside its cell', () => {
    const text = pages(pdf('short', 'docx')).join('\n')
    expect(text).toMatch(summaryHeader)
    for (const step of short.steps) expect(text).toMatch(summaryRow(step))
    // The reasons wrap at spaces, whole words: their last word is printed whole.
    for (const step of short.steps.filter((step) => step.reason)) expect(text).toContain(`endmark${step.idx}`)
  })

  test('report.docx: every page holds its text inside the page, tables included', () => {
    for (const run of ['short', 'long']) {
      for (const [i, page] of pageExtents(pdf(run, 'docx')).entries())
        expect(page.right, `${run} page ${i + 1} of ${page.width} pt`).toBeLessThanOrEqual(page.width - 18)
    }
  })

  test('report.docx: a table running over pages repeats its header row on each of them', () => {
    const printed = pages(pdf('long', 'docx'))
    const withRows = printed
      .map((text, i) => ({ i, text }))
      .filter(({ text }) => long.steps.some((step) => summaryRow(step).test(text)))
    expect(withRows.length).toBeGreaterThan(1)
    for (const { i, text } of withRows) expect(text, `page ${i + 1}`).toMatch(summaryHeader)
    for (const step of long.steps) expect(printed.join('\n')).toMatch(summaryRow(step))
  })

  test('report.xlsx: each sheet prints one page wide, its header row on every page, in few pages', () => {
    const printed = pages(pdf('long', 'xlsx'))
    const headers: Record<string, string[]> = {
      Steps: [
        'idx',
        'step',
        'status',
        'duration_ms',
        'cpu_ms',
        'peak_rss_bytes',
        'exit_code',
        'attempts',
        'attempt_log',
        'reason',
        'outputs',
        'params',
        'log',
      ],
      Context: ['key', 'value', 'who', 'ts'],
      History: ['seq', 'step', 'key', 'who', 'ts', 'before', 'after'],
    }
    const bySheet = new Map<string, string[]>()
    for (const text of printed) {
      // Each printed page says which sheet it is, in its header.
      const sheet =
        /\S.*$/m
          .exec(text)?.[0]
          .trim()
          .split(/\s{2,}/)
          .at(-1) ?? ''
      bySheet.set(sheet, [...(bySheet.get(sheet) ?? []), text])
    }
    expect([...bySheet.keys()]).toEqual(expect.arrayContaining(['Summary', 'Steps', 'Context', 'History', 'Metrics']))
    for (const [sheet, names] of Object.entries(headers))
      for (const [i, text] of (bySheet.get(sheet) ?? []).entries()) {
        const words = new Set(text.split(/\s+/))
        expect(
          names.filter((name) => !words.has(name)),
          `${sheet} page ${i + 1}`,
        ).toEqual([])
      }
    // 100 steps of 13 columns: a few pages, not one per column group.
    expect(bySheet.get('Steps')!.length).toBeLessThanOrEqual(5)
    expect(bySheet.get('Steps')!.join('\n')).toContain(long.steps.at(-1)!.step)
    expect(printed.length).toBeLessThanOrEqual(16)
  })
})
