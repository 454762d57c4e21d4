/**
 * Execution order and dependencies. A step needs the steps in its `depends_on`,
 * transitively; in a recipe that declares no `depends_on` and no `parallel` at all, each
 * step needs every earlier step (the older frameworks' sequential semantics), which is the same as needing
 * the step just before it. Plans keep direct dependencies only: the transitive set is
 * quadratic in size and the runner walks it lazily.
 */

export interface PlanInput {
  name: string
  idx: number
  dependsOn?: string[] | undefined
  parallel?: boolean
}

export interface Plan {
  /** Step names in execution order: dependencies first, otherwise by idx, then file order. */
  order: string[]
  /** For each step, the steps it directly needs. */
  dependencies: Map<string, string[]>
}

export class DependencyCycleError extends Error {
  readonly cycle: string[]
  constructor(cycle: string[]) {
    super(`dependency cycle: ${cycle.join(' → ')}`)
    this.cycle = cycle
  }
}

/**
 * Orders steps topologically; throws `DependencyCycleError` naming the cycle. A recipe that
 * declares `parallel: true`, or has a step marked parallel, is never read as sequential:
 * its steps without depends_on are independent.
 */
export function planSteps(steps: readonly PlanInput[], options: { parallel?: boolean } = {}): Plan {
  const byIdx = steps
    .map((step, position) => ({ step, position }))
    .sort((a, b) => a.step.idx - b.step.idx || a.position - b.position)
  const sequential = !options.parallel && steps.every((step) => step.dependsOn === undefined && !step.parallel)
  const dependencies = new Map<string, string[]>()
  byIdx.forEach(({ step }, i) => {
    const previous = byIdx[i - 1]
    dependencies.set(
      step.name,
      sequential ? (previous ? [previous.step.name] : []) : [...new Set(step.dependsOn ?? [])],
    )
  })

  const order: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  // Depth-first with an explicit stack: a 10,000-step sequential chain is 10,000 levels deep.
  const stack: { name: string; next: number }[] = []
  for (const { step } of byIdx) {
    if (state.has(step.name)) continue
    state.set(step.name, 'visiting')
    stack.push({ name: step.name, next: 0 })
    while (stack.length > 0) {
      const frame = stack.at(-1)!
      const dependency = dependencies.get(frame.name)?.[frame.next++]
      if (dependency === undefined) {
        stack.pop()
        state.set(frame.name, 'done')
        order.push(frame.name)
        continue
      }
      const current = state.get(dependency)
      if (current === 'done' || !dependencies.has(dependency)) continue
      if (current === 'visiting') {
        const trail = stack.map((entry) => entry.name)
        throw new DependencyCycleError([...trail.slice(trail.indexOf(dependency)), dependency])
      }
      state.set(dependency, 'visiting')
      stack.push({ name: dependency, next: 0 })
    }
  }
  return { order, dependencies }
}
