import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatRecipeIssues } from '../../recipe/errors.ts'
import type { Recipe, RecipeStep } from '../../recipe/types.ts'
import { satisfiesDependents } from '../../runtime/meta.ts'
import { declaredOutputs } from '../../recipe/declared-outputs.ts'
import { loadResumeSnapshot, refuseUnrestorableReads } from '../../store/resume.ts'
import { resumeReaders } from '../../recipe/dataflow.ts'
import { EXIT_DEPENDENCY, EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, splitList, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { preflightRecipes } from '../preflight.ts'
import { withCliVars } from '../var-flags.ts'
import { loadProject, loadRecipe, noRecipeError, withStore, type Project } from '../project.ts'

export const PLAN_HELP = `Usage: recipes plan <recipe.yaml> [options]    (alias: recipes run --dry-run)

Validates a recipe and prints its execution plan without running anything: the DAG levels
(steps of one level may run side by side once the levels before are done), and what
--only, --skip and --resume-from would do, and which steps have cached results.

Options:
  --format <f>         text (default), json or mermaid
  --only <a,b>         Steps selected; the steps they need are marked "setup"
  --skip <a,b>         Steps skipped; steps that need them are marked "blocked"
  --resume-from <s>    Steps before s are marked "resumed" (needs a recorded run)
  --var <name=value>   Give a recipe var a value (repeatable), as recipes run does
  -h, --help           Show this help`

const OPTIONS = {
  format: { type: 'string' },
  only: { type: 'string', multiple: true },
  skip: { type: 'string', multiple: true },
  'resume-from': { type: 'string' },
  var: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const

type Action = 'run' | 'setup' | 'skipped' | 'blocked' | 'resumed' | 'filtered'

interface PlannedStep {
  name: string
  idx: number
  type: string
  level: number
  needs: string[]
  action: Action
  parallel: boolean
  cache: 'off' | 'on' | 'hit-possible'
  line: number
}

export async function planCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(args, OPTIONS, 'plan')
  return withCliVars(parsed.values.var, () => planWithVars(parsed, io))
}

async function planWithVars(
  { values, positionals }: ReturnType<typeof parseCommandArgs<typeof OPTIONS>>,
  io: CliIo,
): Promise<number> {
  if (values.help) {
    io.stdout(`${PLAN_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length !== 1)
    throw new UsageError('recipes plan needs exactly one recipe file (see recipes plan --help)')
  const format = values.format ?? 'text'
  if (!['text', 'json', 'mermaid'].includes(format))
    throw new UsageError(`--format takes text, json or mermaid, not "${format}"`)
  const project = await loadProject(io.cwd)
  const file = join(project.root, positionals[0]!)
    .slice(project.root.length + 1)
    .split('\\')
    .join('/')
  if (!existsSync(join(project.root, file))) throw noRecipeError(project, file)
  const loaded = loadRecipe(project, file)
  if (!loaded.recipe || loaded.issues.length > 0) {
    io.stderr(`${formatRecipeIssues(loaded.issues)}\n`)
    return EXIT_INVALID
  }
  const recipe = loaded.recipe
  const checked = (await preflightRecipes(project, [recipe])).get(recipe)!
  if (checked.issues.length > 0) {
    io.stderr(`${formatRecipeIssues(checked.issues)}\n`)
    return EXIT_INVALID
  }
  if (checked.note) io.stderr(`note: ${checked.note}\n`)
  const names = new Set(recipe.steps.map((step) => step.name))
  const only = splitList(values.only)
  const skip = splitList(values.skip)
  const resumeFrom = values['resume-from']
  for (const name of [...only, ...skip, ...(resumeFrom ? [resumeFrom] : [])]) {
    if (!names.has(name)) throw new UsageError(`${file} has no step named "${name}"`)
  }
  let resumedFrom: string | undefined
  if (resumeFrom) {
    const index = recipe.steps.findIndex((step) => step.name === resumeFrom)
    const snapshot = await withStore(project, (store) => loadResumeSnapshot(store, file, recipe.steps[index - 1]?.name))
    const refused =
      typeof snapshot === 'string'
        ? snapshot
        : snapshot.unrestorable &&
          refuseUnrestorableReads(snapshot, resumeReaders(recipe, checked.declarations, index, skip))
    if (typeof snapshot === 'string' || refused) {
      io.stderr(`recipes: cannot resume from "${resumeFrom}": ${refused}\n`)
      return EXIT_DEPENDENCY
    }
    resumedFrom = snapshot.runId
  }
  const planned = planRecipe(recipe, project, { only, skip, ...(resumeFrom ? { resumeFrom } : {}) })
  if (format === 'json')
    io.stdout(
      `${JSON.stringify({ recipe: file, testId: recipe.testMeta.test_id, resumedFrom, steps: planned }, null, 2)}\n`,
    )
  else if (format === 'mermaid') io.stdout(toMermaid(planned))
  else io.stdout(toText(file, recipe, planned, resumedFrom))
  return EXIT_OK
}

function planRecipe(
  recipe: Recipe,
  project: Project,
  selection: { only: string[]; skip: string[]; resumeFrom?: string },
): PlannedStep[] {
  const levels = new Map<string, number>()
  const byName = new Map(recipe.steps.map((step) => [step.name, step]))
  for (const step of recipe.steps)
    levels.set(step.name, 1 + Math.max(0, ...step.needs.map((need) => levels.get(need) ?? 0)))
  const resumeIndex = selection.resumeFrom ? recipe.steps.findIndex((step) => step.name === selection.resumeFrom) : -1
  const selected = new Set(selection.only.length ? selection.only : recipe.steps.map((step) => step.name))
  const setup = new Set<string>()
  const addSetup = (step: RecipeStep) => {
    for (const need of step.needs) {
      if (!selected.has(need) && !setup.has(need)) {
        setup.add(need)
        addSetup(byName.get(need)!)
      }
    }
  }
  for (const name of selected) addSetup(byName.get(name)!)
  const cached = cachedSteps(project.root, recipe.file)
  const actions = new Map<string, Action>()
  // As in a run: a skipped step blocks the steps that need it only when it declares outputs
  // (the plan cannot see a TypeScript scriptlet's own `outputs`, nor what the ctx will hold).
  const blocks = (need: string) => {
    const action = actions.get(need)
    if (action !== 'blocked' && action !== 'skipped') return false
    return !satisfiesDependents(action, action === 'skipped' ? declaredOutputs(byName.get(need)!) : [])
  }
  recipe.steps.forEach((step, index) => {
    let action: Action = selected.has(step.name) ? 'run' : setup.has(step.name) ? 'setup' : 'filtered'
    if (index < resumeIndex) action = 'resumed'
    else if (selection.skip.includes(step.name)) action = 'skipped'
    else if (action !== 'filtered' && step.needs.some((need) => blocks(need))) action = 'blocked'
    actions.set(step.name, action)
  })
  return recipe.steps.map((step) => ({
    name: step.name,
    idx: step.idx,
    type: step.type,
    level: levels.get(step.name)!,
    needs: step.needs,
    action: actions.get(step.name)!,
    parallel: step.parallel,
    cache: !step.cache ? 'off' : cached.has(step.name) ? 'hit-possible' : 'on',
    line: step.locations.step.line,
  }))
}

/** Steps of `recipe` with entries in the step cache (a hit still needs unchanged inputs). */
function cachedSteps(root: string, recipe: string): Set<string> {
  const dir = join(root, '.cache', 'steps')
  const steps = new Set<string>()
  let files: string[] = []
  try {
    files = readdirSync(dir).filter((name) => name.endsWith('.json'))
  } catch {
    return steps
  }
  for (const name of files) {
    try {
      const entry = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { recipe: string; step: string }
      if (entry.recipe === recipe) steps.add(entry.step)
    } catch {
      // A damaged entry says nothing.
    }
  }
  return steps
}

function toText(file: string, recipe: Recipe, steps: PlannedStep[], resumedFrom: string | undefined): string {
  const lines = [
    `${file} — ${recipe.testMeta.test_id}${recipe.testMeta.description ? `: ${recipe.testMeta.description}` : ''}`,
  ]
  if (resumedFrom) lines.push(`ctx restored from run ${resumedFrom}`)
  const maxLevel = Math.max(...steps.map((step) => step.level))
  for (let level = 1; level <= maxLevel; level++) {
    const atLevel = steps.filter((step) => step.level === level)
    lines.push(`level ${level}${atLevel.filter((step) => step.parallel).length > 1 ? ' (parallel)' : ''}`)
    for (const step of atLevel) {
      const details = [
        step.type,
        step.needs.length ? `needs ${step.needs.join(', ')}` : '',
        step.cache !== 'off' ? `cache ${step.cache}` : '',
      ]
        .filter(Boolean)
        .join('; ')
      lines.push(
        `  ${String(step.idx).padStart(3)} ${step.name.padEnd(28)} ${step.action.padEnd(8)} ${details}  (line ${step.line})`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}

function toMermaid(steps: PlannedStep[]): string {
  const id = (name: string) => `s_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const lines = ['flowchart TD']
  for (const step of steps) lines.push(`  ${id(step.name)}["${step.idx}. ${step.name}<br/>${step.action}"]`)
  for (const step of steps) for (const need of step.needs) lines.push(`  ${id(need)} --> ${id(step.name)}`)
  return `${lines.join('\n')}\n`
}
