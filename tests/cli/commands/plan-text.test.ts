import { expect, test } from 'vitest'
import { type PlannedRun, type PlannedStep, planText } from '../../../plugin/cli/commands/plan-text.ts'

const step = (name: string, extra: Partial<PlannedStep> = {}): PlannedStep => ({
  name,
  idx: 1,
  type: 'ts',
  level: 1,
  needs: [],
  action: 'run',
  parallel: false,
  cache: 'off',
  line: 3,
  resources: [],
  args: {},
  ...extra,
})

test('a recipe without a matrix: its resources and each step’s are shown, no combinations', () => {
  const run: PlannedRun = {
    testId: 'T',
    resources: ['dut:sw1'],
    steps: [step('flash', { resources: ['console:c1'], args: { dut: 'sw1' } })],
  }
  expect(planText('recipes/t.yaml', [run])).toMatchInlineSnapshot(`
    "recipes/t.yaml — T
    resources: dut:sw1
    level 1
        1 flash                        run      ts; resources console:c1  (line 3)
    "
  `)
})

test('combinations whose steps would be planned differently each get their levels; what differs is said per combination', () => {
  const runs: PlannedRun[] = [
    { label: 'dut=a', values: { dut: 'a' }, testId: 'T', resources: [], resumedFrom: 'r1', steps: [step('x')] },
    {
      label: 'dut=b',
      values: { dut: 'b' },
      testId: 'T',
      resources: [],
      resumedFrom: 'r2',
      steps: [step('x', { action: 'resumed', command: ['probe', '--dut', 'b'] })],
    },
  ]
  expect(planText('recipes/t.yaml', runs, 4)).toMatchInlineSnapshot(`
    "recipes/t.yaml — T
    matrix: 2 combinations, 4 side by side
    steps of dut=a:
    level 1
        1 x                            run      ts  (line 3)
    steps of dut=b:
    level 1
        1 x                            resumed  ts  (line 3)
    combinations:
      dut=a
        ctx restored from run r1
      dut=b
        ctx restored from run r2
        x cmd: ["probe","--dut","b"]
    "
  `)
})
