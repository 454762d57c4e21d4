import { describe, expect, test } from 'vitest'
import { DependencyCycleError, planSteps } from '../../plugin/recipe/plan.ts'

describe('planSteps', () => {
  test('without depends_on anywhere, each step needs every earlier one: directly, the one before it', () => {
    const plan = planSteps([
      { name: 'c', idx: 3 },
      { name: 'a', idx: 1 },
      { name: 'b', idx: 2 },
    ])
    expect(plan.order).toEqual(['a', 'b', 'c'])
    expect(Object.fromEntries(plan.dependencies)).toEqual({ a: [], b: ['a'], c: ['b'] })
  })

  test('with depends_on, dependencies come first whatever their idx', () => {
    const plan = planSteps([
      { name: 'report', idx: 1, dependsOn: ['aggregate'] },
      { name: 'load', idx: 2 },
      { name: 'mean', idx: 3, dependsOn: ['load'] },
      { name: 'std', idx: 4, dependsOn: ['load'] },
      { name: 'aggregate', idx: 5, dependsOn: ['mean', 'std'] },
      { name: 'independent', idx: 6, dependsOn: [] },
    ])
    expect(plan.order).toEqual(['load', 'mean', 'std', 'aggregate', 'report', 'independent'])
    expect(plan.dependencies.get('report')).toEqual(['aggregate'])
    expect(plan.dependencies.get('independent')).toEqual([])
  })

  test('a parallel recipe, or one with a parallel step, is never sequential: steps without depends_on are independent', () => {
    expect(
      Object.fromEntries(
        planSteps(
          [
            { name: 'a', idx: 1 },
            { name: 'b', idx: 2 },
          ],
          { parallel: true },
        ).dependencies,
      ),
    ).toEqual({ a: [], b: [] })
    expect(
      Object.fromEntries(
        planSteps([
          { name: 'a', idx: 1, parallel: true },
          { name: 'b', idx: 2, parallel: true },
        ]).dependencies,
      ),
    ).toEqual({ a: [], b: [] })
  })

  test('equal idx keeps file order', () => {
    expect(
      planSteps([
        { name: 'x', idx: 1 },
        { name: 'y', idx: 1 },
      ]).order,
    ).toEqual(['x', 'y'])
  })

  test('a cycle names its steps', () => {
    expect(() =>
      planSteps([
        { name: 'a', idx: 1, dependsOn: ['c'] },
        { name: 'b', idx: 2, dependsOn: ['a'] },
        { name: 'c', idx: 3, dependsOn: ['b'] },
      ]),
    ).toThrow(new DependencyCycleError(['a', 'c', 'b', 'a']))
  })
})
