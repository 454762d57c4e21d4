import type { JsonValue } from '../context/json-value.ts'
import { formatMs } from '../format/run-format.ts'
import type { RunData, ShownStepRow } from '../store/run-data.ts'
import { statusColor } from './spec-base.ts'

/**
 * The recipe's step graph as Graphviz DOT: a box per step coloured by its status (the colours
 * of the documents' tables), an arrow from each step it needs, and the parallel steps that
 * start together inside a dashed box. The run's metadata keeps the graph (`steps_graph`,
 * written when the run begins); a run stored without it (older runs, runs imported at
 * --merge-reports) is drawn as a chain in recipe order, and the picture says so.
 */

/** A step of the graph as the run's metadata keeps it. */
export interface GraphStep {
  step: string
  needs: string[]
  parallel: boolean
}

/** At most this many steps are drawn: a larger graph takes Graphviz seconds and no page can show it. */
export const MAX_GRAPH_STEPS = 40
/** Step names are cut to this many characters in their box. */
const MAX_NAME = 40

/** The graph stored with the run, or undefined when it has none (or not in the expected shape). */
export function storedGraph(metadata: { [key: string]: JsonValue }): GraphStep[] | undefined {
  const graph = metadata.steps_graph
  if (!Array.isArray(graph)) return undefined
  const steps: GraphStep[] = []
  for (const item of graph) {
    if (item === null || typeof item !== 'object' || Array.isArray(item) || typeof item.step !== 'string')
      return undefined
    const needs = Array.isArray(item.needs) ? item.needs.filter((need): need is string => typeof need === 'string') : []
    steps.push({ step: item.step, needs, parallel: item.parallel === true })
  }
  return steps
}

/** A DOT string literal: quotes and backslashes escaped, line breaks as \n, other control characters dropped. */
export function dotString(text: string): string {
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r?\n/g, '\\n')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes (they are not XML)
    .replace(/[\u0000-\u001f\u007f]/g, '')
  return `"${escaped}"`
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** The DOT of the run's step graph, and what it leaves out or could not know (for the caption). */
export function stepGraphDot(data: { run: RunData['run']; steps: readonly ShownStepRow[] }): {
  dot: string
  note?: string
} {
  const stored = storedGraph(data.run.metadata)
  const rows = new Map(data.steps.map((row) => [row.step, row]))
  // Without a stored graph, each step needs the one before it: the order the steps were recorded in.
  const graph: GraphStep[] =
    stored ??
    data.steps.map((row, i) => ({ step: row.step, needs: i > 0 ? [data.steps[i - 1]!.step] : [], parallel: false }))
  // Steps the run recorded that its graph does not list (a recipe changed under a resumed run) are drawn too, unconnected.
  if (stored)
    for (const row of data.steps)
      if (!graph.some((item) => item.step === row.step)) graph.push({ step: row.step, needs: [], parallel: false })
  const drawn = graph.slice(0, MAX_GRAPH_STEPS)
  const notes: string[] = []
  if (!stored && data.steps.length > 1) notes.push('dependencies not recorded: steps drawn in recipe order')
  if (graph.length > drawn.length)
    notes.push(`the first ${drawn.length} of ${graph.length} steps; report.xlsx (sheet Steps) has every step`)
  const ids = new Map(drawn.map((item, i) => [item.step, `s${i}`]))

  const lines = [
    'digraph steps {',
    `  graph [rankdir=TB, fontname="DejaVu Sans", fontsize=11, nodesep=0.25, ranksep=0.35, bgcolor=white, labelloc=t, labeljust=l, label=${dotString(['Step graph', ...notes].join('\n'))}]`,
    '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=10, color="#7F7F7F", margin="0.12,0.04"]',
    '  edge [color="#595959", arrowsize=0.6]',
  ]
  drawn.forEach((item, i) => {
    lines.push(
      `  s${i} [label=${dotString(nodeLabel(item.step, i, rows.get(item.step)))}, ${nodeLook(rows.get(item.step))}]`,
    )
  })
  for (const [n, group] of parallelGroups(drawn).entries()) {
    lines.push(
      `  subgraph cluster_parallel_${n} { label="parallel"; fontsize=9; style=dashed; color="#7F7F7F"; ${group.map((item) => ids.get(item.step)).join('; ')} }`,
    )
  }
  for (const item of drawn)
    for (const need of item.needs) {
      const from = ids.get(need)
      if (from) lines.push(`  ${from} -> ${ids.get(item.step)}`)
    }
  lines.push('}')
  const dot = `${lines.join('\n')}\n`
  return notes.length > 0 ? { dot, note: notes.join('; ') } : { dot }
}

function nodeLabel(step: string, position: number, row: ShownStepRow | undefined): string {
  const name = `${row?.idx ?? position + 1}. ${cut(step, MAX_NAME)}`
  if (!row) return `${name}\nnot recorded`
  const ran = row.attempts > 0 || row.durationMs > 0
  const attempts = row.attemptLog.length > 1 ? ` · ${row.attemptLog.length} attempts` : ''
  return `${name}\n${row.status}${ran && Number.isFinite(row.durationMs) ? ` · ${formatMs(row.durationMs)}` : ''}${attempts}`
}

function nodeLook(row: ShownStepRow | undefined): string {
  return row ? `fillcolor="${statusColor(row.status)}"` : 'fillcolor="#FFFFFF", style="rounded,dashed"'
}

/** Parallel steps that start together: neighbours in recipe order, all parallel, needing the same steps; two or more. */
function parallelGroups(steps: readonly GraphStep[]): GraphStep[][] {
  const groups: GraphStep[][] = []
  let group: GraphStep[] = []
  const key = (item: GraphStep) => JSON.stringify([...item.needs].sort())
  for (const item of steps) {
    if (item.parallel && group.length > 0 && key(group[0]!) === key(item)) group.push(item)
    else {
      if (group.length > 1) groups.push(group)
      group = item.parallel ? [item] : []
    }
  }
  if (group.length > 1) groups.push(group)
  return groups
}
