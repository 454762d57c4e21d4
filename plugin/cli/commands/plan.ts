import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatRecipeIssues, sortIssues } from '../../recipe/errors.ts'
import { combinationLabel, combinationLabels, unusedGivenVars } from '../../recipe/matrix.ts'
import { createRedactor } from '../../runtime/redact.ts'
import { varSourcesOf } from '../../recipe/vars.ts'
import type { Recipe, RecipeStep } from '../../recipe/types.ts'
import { satisfiesDependents } from '../../runtime/meta.ts'
import { declaredOutputs } from '../../recipe/declared-outputs.ts'
import { loadResumeSnapshot, refuseUnrestorableReads } from '../../store/resume.ts'
import { resumeReaders } from '../../recipe/dataflow.ts'
import { EXIT_DEPENDENCY, EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, splitList, UsageError } from '../args.ts'
import { type CliIo, maskedIo } from '../io.ts'
import { combinationPreflightIssues, preflightRecipes } from '../preflight.ts'
import { type Action, type PlannedRun, type PlannedStep, planText, toMermaid } from './plan-text.ts'
import { refuseVarsNoneDeclares, withCliVars } from '../var-flags.ts'
import { loadProject, loadRecipe, noRecipeError, withStore, type Project } from '../project.ts'

export const PLAN_HELP = `Usage: recipes plan <recipe.yaml> [options]    (alias: recipes run --dry-run)

Validates a recipe and prints its execution plan without running anything: the DAG levels
(steps of one level may run side by side once the levels before are done), and what
--only, --skip and --resume-from would do, and which steps have cached results. A matrix
recipe is checked and planned once per combination: each is listed by its values (as its
group of tests is named) with what they make of its test, resources, args and cmd.

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

export async function planCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(args, OPTIONS, 'plan')
  return withCliVars(parsed.values.var, () => planWithVars(parsed, io))
}

async function planWithVars(
  { values, positionals }: ReturnType<typeof parseCommandArgs<typeof OPTIONS>>,
  given: CliIo,
): Promise<number> {
  let io = given
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
  // Values (a var's, a combination's) may be a secret's: masked in all the plan says.
  const secrets = [...((loaded.recipe ?? loaded.draft)?.secrets ?? []), ...(project.options.secrets ?? [])]
  const mask = createRedactor(secrets).text
  io = maskedIo(given, mask)
  refuseVarsNoneDeclares(values.var, [loaded])
  if (!loaded.recipe || loaded.issues.length > 0) {
    io.stderr(`${formatRecipeIssues(loaded.issues)}\n`)
    return EXIT_INVALID
  }
  const recipe = loaded.recipe
  // A matrix recipe: each combination is checked and planned with its values.
  const runs = loaded.combinations ?? [recipe]
  for (const warning of unusedGivenVars(recipe, varSourcesOf(project.options.vars))) io.stderr(`${warning}\n`)
  const checked = await preflightRecipes(project, runs)
  const issues = combinationPreflightIssues(checked).get(file) ?? []
  if (issues.length > 0) {
    io.stderr(`${formatRecipeIssues(sortIssues(issues))}\n`)
    return EXIT_INVALID
  }
  const note = checked.get(recipe)!.note
  if (note) io.stderr(`note: ${note}\n`)
  const names = new Set(recipe.steps.map((step) => step.name))
  const only = splitList(values.only)
  const skip = splitList(values.skip)
  const resumeFrom = values['resume-from']
  for (const name of [...only, ...skip, ...(resumeFrom ? [resumeFrom] : [])]) {
    if (!names.has(name)) throw new UsageError(`${file} has no step named "${name}"`)
  }
  const planned: PlannedRun[] = []
  const labels = recipe.matrix
    ? combinationLabels(
        runs.map((run) => run.combination ?? {}),
        mask,
      )
    : []
  for (const [i, run] of runs.entries()) {
    let resumedFrom: string | undefined
    if (resumeFrom) {
      // A matrix combination resumes from its own last run.
      const index = run.steps.findIndex((step) => step.name === resumeFrom)
      const snapshot = await withStore(project, (store) =>
        loadResumeSnapshot(store, file, run.steps[index - 1]?.name, undefined, process.env, run.combination, mask),
      )
      const refused =
        typeof snapshot === 'string'
          ? snapshot
          : snapshot.unrestorable &&
            refuseUnrestorableReads(snapshot, resumeReaders(run, checked.get(run)!.declarations, index, skip))
      if (typeof snapshot === 'string' || refused) {
        io.stderr(`recipes: cannot resume from "${resumeFrom}": ${refused}\n`)
        return EXIT_DEPENDENCY
      }
      resumedFrom = snapshot.runId
    }
    planned.push(planRun(run, project, { only, skip, ...(resumeFrom ? { resumeFrom } : {}) }, resumedFrom, labels[i]))
  }
  const first = planned[0]!
  if (format === 'json') {
    const matrix = recipe.matrix ? { matrix: { parallel: recipe.matrix.parallel, combinations: planned } } : {}
    const plan = { recipe: file, testId: first.testId, resumedFrom: first.resumedFrom, steps: first.steps, ...matrix }
    io.stdout(`${JSON.stringify(plan, null, 2)}\n`)
  } else if (format === 'mermaid') io.stdout(toMermaid(first.steps))
  else io.stdout(planText(file, planned, recipe.matrix?.parallel))
  return EXIT_OK
}

/** The plan of one run of `recipe` (one combination of a matrix recipe). */
function planRun(
  recipe: Recipe,
  project: Project,
  selection: { only: string[]; skip: string[]; resumeFrom?: string },
  resumedFrom: string | undefined,
  label: string | undefined,
): PlannedRun {
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
  const steps = recipe.steps.map(
    (step): PlannedStep => ({
      name: step.name,
      idx: step.idx,
      type: step.type,
      level: levels.get(step.name)!,
      needs: step.needs,
      action: actions.get(step.name)!,
      parallel: step.parallel,
      cache: !step.cache ? 'off' : cached.has(step.name) ? 'hit-possible' : 'on',
      line: step.locations.step.line,
      resources: step.resources,
      args: step.params,
      ...(step.command === undefined ? {} : { command: step.command }),
      ...(step.cacheKey === undefined ? {} : { cacheKey: step.cacheKey }),
      ...(step.cacheInputs.length ? { cacheInputs: step.cacheInputs } : {}),
      ...(step.description === undefined ? {} : { description: step.description }),
    }),
  )
  const { test_id: testId, description } = recipe.testMeta
  return {
    ...(recipe.combination ? { label: label ?? combinationLabel(recipe.combination), values: recipe.combination } : {}),
    testId,
    ...(description === undefined ? {} : { description }),
    resources: recipe.resources,
    ...(resumedFrom === undefined ? {} : { resumedFrom }),
    steps,
  }
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
