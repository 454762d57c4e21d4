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
