/**
 * Execution order and dependencies. A step needs the steps in its `depends_on`,
 * transitively; in a recipe that declares no `depends_on` at all, each step needs every
 * earlier step (the older frameworks' sequential semantics).
 */

export interface PlanInput {
  name: string
  idx: number
  dependsOn?: string[] | undefined
}

export interface Plan {
  /** Step names in execution order: dependencies first, otherwise by idx, then file order. */
  order: string[]
  /** For each step, every step it needs, in execution order. */
  needs: Map<string, string[]>
}

export class DependencyCycleError extends Error {
  readonly cycle: string[]
  constructor(cycle: string[]) {
    super(`dependency cycle: ${cycle.join(' → ')}`)
    this.cycle = cycle
  }
}

/** Orders steps topologically; throws `DependencyCycleError` naming the cycle. */
export function planSteps(steps: readonly PlanInput[]): Plan {
  const byIdx = steps.map((step, position) => ({ step, position })).sort((a, b) => a.step.idx - b.step.idx || a.position - b.position)
  const sequential = steps.every((step) => step.dependsOn === undefined)
  const direct = new Map<string, string[]>()
  byIdx.forEach(({ step }, i) => {
    direct.set(step.name, sequential ? byIdx.slice(0, i).map((earlier) => earlier.step.name) : (step.dependsOn ?? []))
  })

  const order: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string, trail: string[]): void => {
    const current = state.get(name)
    if (current === 'done') return
    if (current === 'visiting') {
      throw new DependencyCycleError([...trail.slice(trail.indexOf(name)), name])
    }
    state.set(name, 'visiting')
    for (const dependency of direct.get(name) ?? []) visit(dependency, [...trail, name])
    state.set(name, 'done')
    order.push(name)
  }
  for (const { step } of byIdx) visit(step.name, [])

  const position = new Map(order.map((name, i) => [name, i]))
  const needs = new Map<string, string[]>()
  for (const name of order) {
    const all = new Set<string>()
    for (const dependency of direct.get(name) ?? []) {
      all.add(dependency)
      for (const transitive of needs.get(dependency) ?? []) all.add(transitive)
    }
    needs.set(name, [...all].sort((a, b) => position.get(a)! - position.get(b)!))
  }
  return { order, needs }
}
