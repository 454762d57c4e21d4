import type { JsonObject, JsonValue } from '../../context/json-value.ts'
import type { Combination } from '../../recipe/matrix.ts'

export type Action = 'run' | 'setup' | 'skipped' | 'blocked' | 'resumed' | 'filtered'

export interface PlannedStep {
  name: string
  idx: number
  type: string
  level: number
  needs: string[]
  action: Action
  parallel: boolean
  cache: 'off' | 'on' | 'hit-possible'
  line: number
  /** Lab resources the step holds, its vars put in. */
  resources: string[]
  /** Its args, its vars put in. */
  args: JsonObject | JsonValue[]
  /** shell/exec: the script or argv, its vars put in. */
  command?: string | string[]
  cacheKey?: string
  cacheInputs?: string[]
  description?: string
}

/** The plan of one run of a recipe: a matrix recipe has one per combination. */
export interface PlannedRun {
  /** The combination's values, as its group of tests is named (`dut=rack1-sw2`); absent without a matrix. */
  label?: string
  values?: Combination
  testId: string
  description?: string
  /** Lab resources the whole run holds. */
  resources: string[]
  /** The run whose ctx `--resume-from` restores. */
  resumedFrom?: string
  steps: PlannedStep[]
}

/**
 * The plan as text: the DAG levels, then for a matrix recipe each combination with what its
 * values make different (test, resources, args...). What every combination shares is said once;
 * combinations whose steps would be planned differently each get their own levels.
 */
export function planText(file: string, runs: readonly PlannedRun[], parallel?: number): string {
  const details = runs.map(runDetails)
  const keys = [...new Set(details.flatMap((detail) => [...detail.keys()]))]
  const shared = new Set(keys.filter((key) => details.every((detail) => detail.get(key) === details[0]!.get(key))))
  const first = details[0]!
  const test = (has: (key: string) => boolean, detail: ReadonlyMap<string, string | undefined>) =>
    ['test id', 'description']
      .filter((key) => has(key) && detail.get(key) !== undefined)
      .map((key) => detail.get(key))
      .join(': ')
  const header = test((key) => shared.has(key), first)
  const lines = [`${file}${header ? ` — ${header}` : ''}`]
  if (runs.length > 1 || runs[0]!.label !== undefined)
    lines.push(`matrix: ${runs.length} combinations${parallel === undefined ? '' : `, ${parallel} side by side`}`)
  for (const key of ['resumed', 'resources'])
    if (shared.has(key) && first.get(key) !== undefined)
      lines.push(`${key === 'resumed' ? '' : 'resources: '}${first.get(key)}`)
  const shapes = new Map<string, PlannedRun[]>()
  for (const run of runs) {
    const shape = JSON.stringify(run.steps.map(shapeOf))
    shapes.set(shape, [...(shapes.get(shape) ?? []), run])
  }
  for (const group of shapes.values()) {
    if (shapes.size > 1) lines.push(`steps of ${group.map((run) => run.label).join(' | ')}:`)
    lines.push(
      ...levelLines(group[0]!.steps, (step) =>
        shared.has(`${step} resources`) ? first.get(`${step} resources`) : undefined,
      ),
    )
  }
  if (runs.length === 1 && runs[0]!.label === undefined) return `${lines.join('\n')}\n`
  lines.push('combinations:')
  runs.forEach((run, i) => {
    const own = keys.filter((key) => !shared.has(key) && details[i]!.get(key) !== undefined)
    const title = test((key) => own.includes(key), details[i]!)
    lines.push(`  ${run.label}${title ? ` — ${title}` : ''}`)
    for (const key of own.filter((key) => key !== 'test id' && key !== 'description'))
      lines.push(`    ${key === 'resumed' ? '' : `${key}: `}${details[i]!.get(key)}`)
  })
  return `${lines.join('\n')}\n`
}

/** What a run's plan says that its vars may change, by what it is (`resources`, `probe args`). */
function runDetails(run: PlannedRun): Map<string, string | undefined> {
  const details = new Map<string, string | undefined>([
    ['test id', run.testId],
    ['description', run.description],
    ['resumed', run.resumedFrom === undefined ? undefined : `ctx restored from run ${run.resumedFrom}`],
    ['resources', run.resources.length ? run.resources.join(', ') : undefined],
  ])
  for (const step of run.steps) {
    details.set(`${step.name} resources`, step.resources.length ? step.resources.join(', ') : undefined)
    details.set(`${step.name} args`, JSON.stringify(step.args))
    if (step.command !== undefined)
      details.set(`${step.name} cmd`, typeof step.command === 'string' ? step.command : JSON.stringify(step.command))
    details.set(`${step.name} cache key`, step.cacheKey)
    details.set(`${step.name} cache inputs`, step.cacheInputs?.length ? step.cacheInputs.join(', ') : undefined)
    details.set(`${step.name} description`, step.description)
  }
  return details
}

/** What decides how a step is planned, whatever the values of the vars. */
function shapeOf(step: PlannedStep): unknown[] {
  return [step.name, step.idx, step.type, step.level, step.needs, step.action, step.parallel, step.cache, step.line]
}

/** The DAG levels, each step with what it does; `resources`: a step's, when every combination's are the same. */
function levelLines(steps: readonly PlannedStep[], resources: (step: string) => string | undefined): string[] {
  const lines: string[] = []
  const maxLevel = Math.max(...steps.map((step) => step.level))
  for (let level = 1; level <= maxLevel; level++) {
    const atLevel = steps.filter((step) => step.level === level)
    lines.push(`level ${level}${atLevel.filter((step) => step.parallel).length > 1 ? ' (parallel)' : ''}`)
    for (const step of atLevel) {
      const held = resources(step.name)
      const text = [
        step.type,
        step.needs.length ? `needs ${step.needs.join(', ')}` : '',
        step.cache !== 'off' ? `cache ${step.cache}` : '',
        held ? `resources ${held}` : '',
      ]
        .filter(Boolean)
        .join('; ')
      lines.push(
        `  ${String(step.idx).padStart(3)} ${step.name.padEnd(28)} ${step.action.padEnd(8)} ${text}  (line ${step.line})`,
      )
    }
  }
  return lines
}

export function toMermaid(steps: PlannedStep[]): string {
  const id = (name: string) => `s_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const lines = ['flowchart TD']
  for (const step of steps) lines.push(`  ${id(step.name)}["${step.idx}. ${step.name}<br/>${step.action}"]`)
  for (const step of steps) for (const need of step.needs) lines.push(`  ${id(need)} --> ${id(step.name)}`)
  return `${lines.join('\n')}\n`
}
