import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { SqlDialect } from './sql.ts'

/**
 * A run of only some of a recipe's steps (`-t`, the IDE's run of one step), as the run's
 * metadata keeps it (`metadata.selection`): the steps the test name filter kept, in recipe
 * order, and the filtered-out steps they need, which ran first as setup inside their tests.
 * A run without it ran every step. Such a run is compared only with runs of the same
 * selection: its other steps did not run, its setup steps ran in other company than in a
 * full run, and its wall time covers only a part of the recipe.
 */
export interface RunSelection {
  selected: string[]
  setup: string[]
}

/** The selection a run's metadata records; undefined for a run of the whole recipe. */
export function selectionOf(metadata: JsonObject | null | undefined): RunSelection | undefined {
  const value = metadata?.selection
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const names = (list: JsonValue | undefined) =>
    Array.isArray(list) ? list.filter((name): name is string => typeof name === 'string') : []
  return { selected: names(value.selected), setup: names(value.setup) }
}

/**
 * The selection of a run told from its steps' records alone (a run imported at
 * --merge-reports): the steps that ran in their own tests were selected, and those they ran
 * as setup are listed in their records; undefined when every one of the recipe file's
 * `tests` ran in its own (a full run).
 */
export function selectionOfSteps(
  steps: readonly { step: string; idx: number; setup: readonly string[]; setupFor?: string }[],
  tests: number,
): RunSelection | undefined {
  const ordered = [...steps].sort((a, b) => a.idx - b.idx)
  const selected = ordered.filter((step) => step.setupFor === undefined)
  if (selected.length >= tests) return undefined
  const setup = new Set([
    ...ordered.filter((step) => step.setupFor !== undefined).map((step) => step.step),
    ...selected.flatMap((step) => step.setup),
  ])
  const position = new Map(ordered.map((step) => [step.step, step.idx]))
  return {
    selected: selected.map((step) => step.step),
    setup: [...setup].sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0)),
  }
}

/** What runs must share to be compared: '' for runs of the whole recipe, else the selected steps. */
export function comparisonKey(selection: RunSelection | undefined): string {
  return selection ? JSON.stringify(selection.selected) : ''
}

/** Whether two runs ran the same steps the same way (both whole, or the same selection). */
export function sameSelection(a: RunSelection | undefined, b: RunSelection | undefined): boolean {
  return comparisonKey(a) === comparisonKey(b)
}

/** How a selection run is shown in lists: `-t aggregate_traffic (setup: capture_a, capture_b)`. */
export function describeSelection(selection: RunSelection): string {
  const setup = selection.setup.length > 0 ? ` (setup: ${selection.setup.join(', ')})` : ''
  return `-t ${selection.selected.join(', ')}${setup}`
}

/**
 * SQL for the selected steps of a `runs` row, as comparable text ('' for a whole run): the
 * same expression on both sides of a comparison, so each dialect's JSON text form is fine.
 */
export function selectedStepsSql(dialect: SqlDialect): string {
  return dialect === 'postgres'
    ? "COALESCE((metadata::jsonb -> 'selection' -> 'selected')::text, '')"
    : "COALESCE(json_extract(metadata, '$.selection.selected'), '')"
}

/**
 * A step's status as two runs are compared: `setup` counts as `passed` (the step ran and
 * passed either way), so a step that ran as setup is never a status flip.
 */
export function comparableStatus(status: string): string {
  return status === 'setup' ? 'passed' : status
}
