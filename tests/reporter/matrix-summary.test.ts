import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect, test } from 'vitest'
import {
  combineShardCopies,
  matrixSummaryLines,
  matrixSummaryMarkdown,
  writeMatrixSummary,
} from '../../plugin/reporter/matrix-summary.ts'
import type { RecipeStepMeta } from '../../plugin/runtime/meta.ts'

const step = (runId: string, status: string) => ({ runId, status }) as unknown as RecipeStepMeta

test("a matrix recipe's combinations side by side: outcome, what the steps came to, run id; those not run said so", () => {
  expect(
    matrixSummaryLines('recipes/device.yaml', [
      { label: 'dut=sw1', steps: [step('r-sw1', 'passed'), step('r-sw1', 'passed')] },
      { label: 'dut=sw22', steps: [step('r-sw22', 'failed'), step('r-sw22', 'blocked')] },
      { label: 'dut=sw3', steps: [] },
    ]),
  ).toEqual([
    ' vitest-recipes  matrix recipes/device.yaml: 3 combinations, 1 passed, 1 failed, 1 not run',
    `   dut=sw1   passed   ${'2 passed'.padEnd(24)}  r-sw1`,
    `   dut=sw22  failed   ${'1 failed, 1 blocked'.padEnd(24)}  r-sw22`,
    '   dut=sw3   not run',
  ])
})

test("the matrix's document: a row per combination, its first reason kept inside its cell, those not run said so", () => {
  const failed = {
    runId: 'r-sw22',
    status: 'failed',
    reason: 'link down | port 3\nsee the log',
  } as unknown as RecipeStepMeta
  const markdown = matrixSummaryMarkdown('recipes/device.yaml', [
    { label: 'dut=sw1', steps: [step('r-sw1', 'passed')] },
    { label: 'dut=sw22', steps: [step('r-sw22', 'passed'), failed] },
    { label: 'dut=sw3', steps: [] },
  ])
  expect(markdown.split('\n')).toEqual([
    '# Matrix recipes/device.yaml',
    '',
    '3 combinations: 1 passed, 1 failed, 1 not run.',
    '',
    '| combination | outcome | steps | run | documents | first reason |',
    '| --- | --- | --- | --- | --- | --- |',
    '| dut=sw1 | passed | 1 passed | r-sw1 | [html](r-sw1/report.html) · [md](r-sw1/report.md) |  |',
    '| dut=sw22 | failed | 1 passed, 1 failed | r-sw22 | [html](r-sw22/report.html) · [md](r-sw22/report.md) | link down \\| port 3 see the log |',
    '| dut=sw3 | not run |  |  |  |  |',
    '',
  ])
})

test("the matrix's document writes a combination and a reason as report.md does: control characters shown, a backslash before a bar kept, a long reason cut saying how long", () => {
  const failed = {
    runId: 'r-1',
    status: 'failed',
    reason: `\x1b[31mlink down\x1b[0m C:\\|x ${'y'.repeat(300)}`,
  } as unknown as RecipeStepMeta
  const [row] = matrixSummaryMarkdown('recipes/device.yaml', [{ label: 'path=C:\\|', steps: [failed] }])
    .split('\n')
    .filter((line) => line.startsWith('| path'))
  expect(row).toBe(
    `| path=C:\\\\\\| | failed | 1 failed | r-1 | [html](r-1/report.html) · [md](r-1/report.md) | ␛[31mlink down␛[0m C:\\\\\\|x ${'y'.repeat(150)}… (325 characters in all) |`,
  )
})

test("--merge-reports: each shard's copy of the matrix file gives the combinations it ran; each is taken once, in the file's order", () => {
  const sw1 = [step('r-sw1', 'passed')]
  const sw2 = [step('r-sw2', 'failed')]
  const sw3 = [step('r-sw3', 'passed')]
  const combined = combineShardCopies([
    [
      { label: 'dut=sw1', steps: [] },
      { label: 'dut=sw2', steps: sw2 },
      { label: 'dut=sw3', steps: [] },
    ],
    [
      { label: 'dut=sw1', steps: sw1 },
      { label: 'dut=sw2', steps: [] },
      { label: 'dut=sw3', steps: sw3 },
    ],
    // The same blob merged twice: its runs are not taken again.
    [
      { label: 'dut=sw1', steps: [step('r-sw1-again', 'passed')] },
      { label: 'dut=sw4', steps: [] },
    ],
  ])
  expect(combined).toEqual([
    { label: 'dut=sw1', steps: sw1 },
    { label: 'dut=sw2', steps: sw2 },
    { label: 'dut=sw3', steps: sw3 },
    { label: 'dut=sw4', steps: [] },
  ])
})

test("two matrix recipes of one name in two folders each keep their summary, whose links reach the runs' documents", () => {
  const reports = mkdtempSync(join(tmpdir(), 'matrix-summary-'))
  try {
    const write = (recipe: string, runId: string) => {
      mkdirSync(join(reports, runId))
      writeFileSync(join(reports, runId, 'report.md'), `# ${runId}\n`)
      return writeMatrixSummary(reports, recipe, [{ label: 'dut=sw1', steps: [step(runId, 'passed')] }])
    }
    const files = [
      write('recipes/switch.yaml', 'r-top'),
      write('recipes/lab1/switch.yaml', 'r-lab1'),
      write('recipes/lab2/switch.yaml', 'r-lab2'),
      write('switch.yaml', 'r-root'),
      write('../elsewhere/switch.yaml', 'r-outside'),
    ]
    // The usual folder keeps its name; every file is its own, inside the reports folder.
    expect(files[0]).toBe(join(reports, 'matrix-switch.md'))
    expect(new Set(files).size).toBe(files.length)
    for (const [i, file] of files.entries()) {
      expect(file.startsWith(`${reports}/`), file).toBe(true)
      const text = readFileSync(file, 'utf8')
      const link = /\[md\]\(([^)]+)\)/.exec(text)![1]!
      expect(readFileSync(join(dirname(file), link), 'utf8'), `${file}: ${link}`).toBe(
        `# ${['r-top', 'r-lab1', 'r-lab2', 'r-root', 'r-outside'][i]}\n`,
      )
    }
  } finally {
    rmSync(reports, { recursive: true, force: true })
  }
})
