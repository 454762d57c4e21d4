import type { RecipeStep } from '../recipe/types.ts'

/**
 * The steps a selected step needs that must run first as setup (they were filtered out by
 * -t or the IDE), as batches to run one after the other; the steps of a batch run side by
 * side. That is the recipe's own parallelism: in a full run Vitest runs neighbouring
 * concurrent tests (the recipe's neighbouring `parallel` steps) together and the others one
 * at a time, so two setup steps share a batch when both are parallel and no sequential step
 * stands between them in the recipe. Steps in one batch that need each other still wait for
 * each other (the runner awaits a needed step's outcome).
 *
 * `done(name)`: the step has an outcome or is under way (ran, or runs in its own test beside
 * the selected one): neither it nor what it needs is set up. `preset(step)`: the step does
 * not run in this run (--skip, before --resume-from): it is recorded as such, and what it
 * needs is not set up for it.
 */
export function setupBatches(
  steps: readonly RecipeStep[],
  selected: RecipeStep,
  done: (name: string) => boolean,
  preset: (step: RecipeStep) => boolean,
): RecipeStep[][] {
  const byName = new Map(steps.map((step) => [step.name, step]))
  const needed = new Set<string>()
  const pending = [...selected.needs]
  while (pending.length > 0) {
    const name = pending.pop()!
    if (needed.has(name) || done(name)) continue
    const step = byName.get(name)
    if (!step) continue
    needed.add(name)
    if (!preset(step)) pending.push(...step.needs)
  }
  const batches: RecipeStep[][] = []
  let group: RecipeStep[] | undefined
  // Walks the whole recipe: a sequential step between two parallel ones ends their group even when it is not set up.
  for (const step of steps) {
    if (!step.parallel) group = undefined
    if (!needed.has(step.name)) continue
    if (step.parallel && group) group.push(step)
    else {
      group = [step]
      batches.push(group)
      if (!step.parallel) group = undefined
    }
  }
  return batches
}

/**
 * `run` of each item, at most `limit` at a time, started in the items' order (a step of a
 * batch starts after the steps before it, among them those it needs); results in item order.
 */
export async function inOrderLimited<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => R | Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await run(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker))
  return results
}
