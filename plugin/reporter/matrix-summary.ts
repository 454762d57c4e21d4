import { type RecipeStepMeta, runStatusOf } from '../runtime/meta.ts'

/** One combination of a matrix recipe as its file ended: its group's name and the records of its steps that ran. */
export interface CombinationResult {
  label: string
  /** The records of its steps (none: the combination did not run: -t, another shard). */
  steps: readonly RecipeStepMeta[]
}

/**
 * The lines that put a matrix recipe's combinations side by side once its file has ended:
 * each one's outcome, what its steps came to and its run id (`recipes report <run_id>`).
 */
export function matrixSummaryLines(recipe: string, combinations: readonly CombinationResult[]): string[] {
  const outcomes = combinations.map(({ steps }) =>
    steps.length === 0 ? 'not run' : runStatusOf(steps.map((step) => step.status)),
  )
  const counts = new Map<string, number>()
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1)
  const totals = ['passed', 'failed', 'blocked', 'not run']
    .filter((outcome) => counts.has(outcome))
    .map((outcome) => `${counts.get(outcome)} ${outcome}`)
  const width = Math.max(...combinations.map(({ label }) => label.length))
  const lines = [` vitest-recipes  matrix ${recipe}: ${combinations.length} combinations, ${totals.join(', ')}`]
  combinations.forEach(({ label, steps }, i) => {
    const outcome = outcomes[i]!
    if (steps.length === 0) {
      lines.push(`   ${label.padEnd(width)}  ${outcome}`)
      return
    }
    const byStatus = new Map<string, number>()
    for (const step of steps) byStatus.set(step.status, (byStatus.get(step.status) ?? 0) + 1)
    const described = [...byStatus].map(([status, count]) => `${count} ${status}`).join(', ')
    lines.push(`   ${label.padEnd(width)}  ${outcome.padEnd(7)}  ${described.padEnd(24)}  ${steps[0]!.runId}`)
  })
  return lines
}
