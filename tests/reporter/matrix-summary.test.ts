import { expect, test } from 'vitest'
import { matrixSummaryLines } from '../../plugin/reporter/matrix-summary.ts'
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
