import { LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { didYouMean } from './did-you-mean.ts'
import { RecipeError, type RecipeIssue } from './errors.ts'
import { IssueCollector } from './issue-collector.ts'
import { DependencyCycleError, planSteps } from './plan.ts'
import { checkEnvParams, normalizeStep } from './normalize-step.ts'
import { KNOWN_KEYS, recipeSchema, stepSchema, type StepInput } from './schema.ts'
import {
  anchorHolders,
  normalizeRecipeText,
  RECIPE_YAML_OPTIONS,
  recipeTextIssue,
  tooDeep,
  tooDeepIssue,
} from './recipe-text.ts'
import { pyYamlBooleanWarnings, readPyYamlBooleans } from './pyyaml-booleans.ts'
import { RecipeSource } from './source.ts'
import type { Recipe, RecipeStep, TestMeta } from './types.ts'
import { type Combination, expandMatrix, type RecipeMatrix } from './matrix.ts'
import { applyRecipeVars } from './var-substitution.ts'
import { readVarDeclarations, type VarSources } from './vars.ts'
import { syntaxIssues, toJsIssue } from './yaml-issues.ts'

/** What a recipe file holds: the recipe when it has no problem, else every problem found in one pass. */
export interface RecipeReading {
  recipe?: Recipe
  /**
   * The steps that could be read, normalized, so their files can be checked too: those that
   * passed the schema, and those whose schema errors leave their name and type (read without
   * the refused fields).
   */
  steps: RecipeStep[]
  /**
   * A recipe with problems, as far as it can be trusted for the checks that need every step
   * (args against parameters, dataflow): set when each step could be read and no refused field
   * changes what the steps read, write or wait for. Never set when `recipe` is.
   */
  draft?: Recipe
  issues: RecipeIssue[]
  /** Dotted paths of values whose var references were refused: no other problem is claimed about them. */
  silenced?: ReadonlySet<string>
  /** The names under `vars:`, valid or not; undefined when the file could not be read as YAML. */
  declaredVars?: string[]
  /** What the recipe should still change (pyYamlBooleanWarnings), when it has no problem. */
  warnings?: string[]
  /** The recipe's matrix when it has a sound one, whatever the other problems (they may be one combination's). */
  matrix?: RecipeMatrix
}

/**
 * Fields whose refusal makes a step's dataflow unknown (its order, what it needs, writes or
 * is given, whether it is a negative test): a recipe with one of them refused gets no draft.
 */
const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(KNOWN_KEYS.recipe)

const DRAFT_BLOCKERS: ReadonlySet<string> = new Set(['idx', 'depends_on', 'args', 'params', 'save', 'expect'])

/** A step read despite schema errors: its input without the refused fields, and which they were. */
interface SalvagedStep {
  input: StepInput
  refused: ReadonlySet<string>
}

export interface RecipeReadOptions {
  /**
   * The values of the recipe's vars given from outside (--var, RECIPES_VAR_*, the plugin
   * option); without them each var takes its default.
   */
  vars?: VarSources
}

/**
 * Parses and validates a recipe. Throws a `RecipeError` listing every problem found, each
 * pointing at its line and column in `file`.
 */
export function parseRecipe(text: string, file: string, options: RecipeReadOptions = {}): Recipe {
  const reading = readRecipe(text, file, options)
  if (reading.recipe === undefined || reading.issues.length > 0) throw new RecipeError(reading.issues)
  return reading.recipe
}

/**
 * Reads a recipe and reports every problem of the file in one round: schema errors of each
 * step, duplicate names and unknown `depends_on` together; a step with a schema error is
 * still read without the refused fields, so the checks of its files and of the whole recipe
 * (`draft`) can run too. Only broken YAML stops it early, since then nothing after the error
 * can be trusted.
 */
export function readRecipe(fileText: string, file: string, options: RecipeReadOptions = {}): RecipeReading {
  const unreadable = recipeTextIssue(fileText, file)
  if (unreadable) return { steps: [], issues: [unreadable] }
  const text = normalizeRecipeText(fileText)
  const lines = new LineCounter()
  const source = new RecipeSource(file, text, lines)
  const doc = parseDocument(text, { ...RECIPE_YAML_OPTIONS, lineCounter: lines })
  if (doc.errors.length > 0) return { steps: [], issues: syntaxIssues(doc.errors, source) }
  const deep = tooDeep(doc)
  if (deep !== undefined) return { steps: [], issues: [tooDeepIssue(source, deep)] }
  readPyYamlBooleans(doc)
  const booleanWarnings = pyYamlBooleanWarnings(doc, lines, file)
  let raw: unknown
  try {
    raw = doc.toJS()
  } catch (error) {
    return { steps: [], issues: [toJsIssue(error, doc, source)] }
  }
  // Top-level keys that only hold anchors the steps use are where their shared parts are written.
  const holders = anchorHolders(doc, TOP_LEVEL_KEYS)
  if (holders.size > 0 && isRecord(raw))
    raw = Object.fromEntries(Object.entries(raw).filter(([key]) => !holders.has(key)))
  const issues = new IssueCollector(doc, source)
  const { matrix, partial } = readMatrix(raw, issues)
  // Without a combination given, the recipe is read as its first combination.
  const first = matrix?.combinations[0] ?? partial
  const sources =
    first && options.vars?.matrix === undefined ? { ...options.vars, matrix: first } : (options.vars ?? {})
  const vars = applyRecipeVars(raw, sources, issues)
  raw = vars.raw
  issues.silenced = vars.refusedPaths
  issues.substituted = vars.substituted
  const parsed = recipeSchema.safeParse(raw ?? {})
  if (!parsed.success) for (const issue of parsed.error.issues) issues.addZodIssue(issue)

  // Steps are checked one by one so that a schema error in one does not hide the problems of the others.
  const top = isRecord(raw) ? raw : {}
  const rawSteps: unknown[] = Array.isArray(top.steps) ? top.steps : []
  const recipeParallel = top.parallel === true
  const names: (string | undefined)[] = rawSteps.map((step) =>
    isRecord(step) && typeof step.name === 'string' ? step.name : undefined,
  )
  const steps: RecipeStep[] = []
  let trusted = true
  rawSteps.forEach((rawStep, i) => {
    const parsedStep = stepSchema.safeParse(rawStep)
    // A schema error in one field does not hide the other problems of its step: the step is
    // read without the refused fields, so its files, names and dependencies are checked too.
    const step: SalvagedStep | undefined = parsedStep.success
      ? { input: parsedStep.data, refused: new Set() }
      : salvageStep(rawStep, parsedStep.error.issues)
    if (!step) {
      trusted = false
      return
    }
    if ([...step.refused].some((field) => DRAFT_BLOCKERS.has(field))) trusted = false
    const normalized = normalizeStep(step.input, i, issues, recipeParallel, step.refused)
    steps.push(normalized)
    checkEnvParams(normalized, step.input.args !== undefined ? 'args' : 'params', issues)
  })
  // Args that still hold a var reference (refused, unknown or unset) are not what the step would be given.
  if ([...vars.refusedPaths].some((path) => /^steps\[\d+\]\.(?:args|params)\b/.test(path))) trusted = false
  const duplicates = checkNamesAndDependencies(steps, names, rawSteps, issues)
  if (!parsed.success || issues.list.length > 0) {
    const reading: RecipeReading = {
      steps,
      issues: issues.list,
      silenced: vars.refusedPaths,
      declaredVars: vars.declared,
      ...(matrix ? { matrix } : {}),
    }
    if (trusted && !duplicates) {
      const known = new Set(names)
      // Unknown dependencies are reported already; the draft plans without them.
      const plannable = steps.map((step) =>
        step.dependsOn === undefined ? step : { ...step, dependsOn: step.dependsOn.filter((name) => known.has(name)) },
      )
      const draft = planRecipe(plannable, top.parallel === true, issues)
      if (draft)
        reading.draft = {
          ...draftSettings(top, file),
          vars: vars.values,
          varsFrom: vars.from,
          steps: draft,
          ...(matrix ? { combination: { ...sources.matrix } } : {}),
        }
    }
    return reading
  }

  const ordered = planRecipe(steps, parsed.data.parallel ?? false, issues)
  if (!ordered)
    return {
      steps,
      issues: issues.list,
      silenced: vars.refusedPaths,
      declaredVars: vars.declared,
      ...(matrix ? { matrix } : {}),
    }

  const meta = parsed.data.test_meta ?? {}
  const testMeta: TestMeta = {
    test_id: meta.test_id === undefined ? defaultTestId(file) : String(meta.test_id),
    ...(meta.tester === undefined ? {} : { tester: meta.tester }),
    ...(meta.description === undefined ? {} : { description: meta.description }),
    tags: meta.tags ?? [],
  }
  const recipe: Recipe = {
    file,
    testMeta,
    secrets: parsed.data.secrets ?? [],
    conflicts: parsed.data.conflicts ?? 'fail',
    stepMetrics: parsed.data.step_metrics ?? false,
    resources: parsed.data.resources ?? [],
    vars: vars.values,
    varsFrom: vars.from,
    steps: ordered,
  }
  if (matrix) {
    recipe.matrix = matrix
    recipe.combination = { ...sources.matrix }
  }
  if (parsed.data.resource_wait !== undefined) recipe.resourceWaitSec = parsed.data.resource_wait
  if (parsed.data.resource_hold_max !== undefined) recipe.resourceHoldMaxSec = parsed.data.resource_hold_max
  return {
    recipe,
    steps: ordered,
    issues: [],
    declaredVars: vars.declared,
    ...(matrix ? { matrix } : {}),
    ...(booleanWarnings.length > 0 ? { warnings: booleanWarnings } : {}),
  }
}

/** The recipe's matrix, its problems reported at their lines. */
function readMatrix(raw: unknown, issues: IssueCollector): { matrix?: RecipeMatrix; partial?: Combination } {
  const top = isRecord(raw) ? raw : {}
  const { matrix, problems, partial } = expandMatrix(
    top.matrix,
    top.matrix_parallel,
    readVarDeclarations(top.vars).declarations,
  )
  for (const problem of problems) {
    const options: { key?: boolean; hint?: string } = {}
    if (problem.key) options.key = true
    if (problem.hint) options.hint = problem.hint
    issues.add('RECIPE_MATRIX', problem.message, problem.path, options)
  }
  return matrix ? { matrix } : partial ? { partial } : {}
}

/** The steps in execution order, each with what it needs; undefined (and an issue) for a cycle. */
function planRecipe(steps: RecipeStep[], parallel: boolean, issues: IssueCollector): RecipeStep[] | undefined {
  let plan: ReturnType<typeof planSteps>
  try {
    plan = planSteps(steps, { parallel })
  } catch (error) {
    if (!(error instanceof DependencyCycleError)) throw error
    const first = steps.findIndex((step) => step.name === error.cycle[0])
    issues.add(
      'RECIPE_DEPENDENCY_CYCLE',
      `steps depend on each other in a cycle: ${error.cycle.join(' → ')}`,
      ['steps', first, 'depends_on'],
      {
        hint: 'Remove one of these depends_on entries so the steps can be ordered.',
      },
    )
    return undefined
  }
  const byName = new Map(steps.map((step) => [step.name, step]))
  return plan.order.map((name) => ({ ...byName.get(name)!, needs: plan.dependencies.get(name) ?? [] }))
}

/** A draft's recipe-level settings: those the dataflow check reads, each as written when valid. */
function draftSettings(top: Record<string, unknown>, file: string): Omit<Recipe, 'steps' | 'vars' | 'varsFrom'> {
  return {
    file,
    testMeta: { test_id: defaultTestId(file), tags: [] },
    secrets: [],
    conflicts: top.conflicts === 'last_write_wins' ? 'last_write_wins' : 'fail',
    stepMetrics: top.step_metrics === true,
    resources: [],
  }
}

/**
 * A step the schema refused, read without its refused fields; undefined when what is left
 * is not a step (not a mapping, or no valid name or type).
 */
function salvageStep(raw: unknown, zodIssues: readonly z.core.$ZodIssue[]): SalvagedStep | undefined {
  if (!isRecord(raw)) return undefined
  const refused = new Set<string>()
  for (const issue of zodIssues) {
    const field = issue.path[0]
    if (typeof field === 'string') refused.add(field)
    else if (issue.code === 'unrecognized_keys') for (const key of issue.keys) refused.add(key)
    else return undefined
  }
  if (refused.has('name') || refused.has('type')) return undefined
  const rest = Object.fromEntries(Object.entries(raw).filter(([key]) => !refused.has(key)))
  const parsed = stepSchema.safeParse(rest)
  return parsed.success ? { input: parsed.data, refused } : undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function defaultTestId(file: string): string {
  return file.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/, '')
}

/**
 * Names are checked across every step, including those the schema refused: a step with a
 * bad `timeout` still has a name that others may depend on or repeat. Returns whether a name
 * is repeated.
 */
function checkNamesAndDependencies(
  steps: readonly RecipeStep[],
  names: readonly (string | undefined)[],
  rawSteps: readonly unknown[],
  issues: IssueCollector,
): boolean {
  const firstIndex = new Map<string, number>()
  let duplicates = false
  names.forEach((name, i) => {
    if (name === undefined) return
    const earlier = firstIndex.get(name)
    if (earlier === undefined) {
      firstIndex.set(name, i)
      return
    }
    duplicates = true
    issues.add(
      'RECIPE_DUPLICATE_STEP',
      `step name "${name}" is already used by steps[${earlier}]`,
      ['steps', i, 'name'],
      {
        hint: 'Step names are test names: give each step its own name.',
      },
    )
  })
  for (const step of steps) {
    const i = step.index
    const scalar = isRecord(rawSteps[i]) && typeof rawSteps[i].depends_on === 'string'
    step.dependsOn?.forEach((dependency, j) => {
      if (firstIndex.has(dependency)) return
      const suggestion = didYouMean(dependency, firstIndex.keys())
      // `depends_on: a` (a scalar) or `depends_on: [a, b]` (a list)
      const path = scalar ? ['steps', i, 'depends_on'] : ['steps', i, 'depends_on', j]
      issues.add(
        'RECIPE_UNKNOWN_DEPENDENCY',
        `step "${step.name}" depends on "${dependency}", which is not a step of this recipe`,
        path,
        {
          hint: suggestion
            ? `Did you mean "${suggestion}"?`
            : `Steps of this recipe: ${[...firstIndex.keys()].join(', ')}.`,
        },
      )
    })
  }
  return duplicates
}
