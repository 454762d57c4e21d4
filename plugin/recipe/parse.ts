import { LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml'
import type { z } from 'zod'
import { didYouMean } from './did-you-mean.ts'
import { RecipeError, type RecipeErrorCode, type RecipeIssue, type SourceLocation } from './errors.ts'
import { DependencyCycleError, planSteps } from './plan.ts'
import { checkEnvParams, normalizeStep } from './normalize-step.ts'
import { KNOWN_KEYS, recipeSchema, stepSchema, type StepInput } from './schema.ts'
import { findNodeRange, RecipeSource, toDotPath, type RecipePath } from './source.ts'
import type { Recipe, RecipeStep, TestMeta } from './types.ts'
import { type Combination, expandMatrix, type RecipeMatrix } from './matrix.ts'
import { applyRecipeVars } from './var-substitution.ts'
import { readVarDeclarations, type VarSources } from './vars.ts'

const SCHEMA_REFERENCE = 'the recipe schema (vitest-recipes/schema/recipe.schema.json)'
// yaml's messages for a key indented less than its siblings.
const MISPLACED_KEY = /must start at the same column|Sequence item without - indicator/
const INDENT_HINT = 'Indent the key like the other keys of its mapping (a new list item starts with "- ").'
const SYNTAX_HINT = `Fix the YAML syntax; an editor that knows ${SCHEMA_REFERENCE} shows these as you type.`

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
}

/**
 * Fields whose refusal makes a step's dataflow unknown (its order, what it needs, writes or
 * is given, whether it is a negative test): a recipe with one of them refused gets no draft.
 */
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
export function readRecipe(text: string, file: string, options: RecipeReadOptions = {}): RecipeReading {
  const lines = new LineCounter()
  const source = new RecipeSource(file, text, lines)
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) return { steps: [], issues: syntaxIssues(doc.errors, source) }
  let raw: unknown
  try {
    raw = doc.toJS()
  } catch (error) {
    return { steps: [], issues: [aliasIssue(error, doc, source)] }
  }
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
    }
    if (trusted && !duplicates) {
      const known = new Set(names)
      // Unknown dependencies are reported already; the draft plans without them.
      const plannable = steps.map((step) =>
        step.dependsOn === undefined ? step : { ...step, dependsOn: step.dependsOn.filter((name) => known.has(name)) },
      )
      const draft = planRecipe(plannable, top.parallel === true, issues)
      if (draft) reading.draft = { ...draftSettings(top, file), vars: vars.values, varsFrom: vars.from, steps: draft }
    }
    return reading
  }

  const ordered = planRecipe(steps, parsed.data.parallel ?? false, issues)
  if (!ordered) return { steps, issues: issues.list, silenced: vars.refusedPaths, declaredVars: vars.declared }

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
  return { recipe, steps: ordered, issues: [], declaredVars: vars.declared }
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

/**
 * YAML errors, each at the line to fix. A key indented deeper than its siblings makes yaml
 * report the line above (where the value it swallowed starts): point at the indented line.
 */
function syntaxIssues(errors: readonly YAMLError[], source: RecipeSource): RecipeIssue[] {
  const overIndented = new Set(
    errors.filter((error) => error.code === 'MULTILINE_IMPLICIT_KEY').map((error) => error.pos[0]),
  )
  return errors
    .filter((error) => !(error.code === 'BLOCK_AS_IMPLICIT_KEY' && overIndented.has(error.pos[0])))
    .slice(0, 5)
    .map((error): RecipeIssue => {
      if (error.code === 'MULTILINE_IMPLICIT_KEY') {
        const line = source.lines.linePos(Math.max(error.pos[0], error.pos[1] - 1)).line
        return {
          code: 'RECIPE_YAML_SYNTAX',
          message: 'this line is indented deeper than the key above it, so YAML reads it as part of that value',
          location: source.locateLineStart(line),
          hint: INDENT_HINT,
        }
      }
      let location = source.locate(error.pos[0], error.pos[1] - error.pos[0])
      // An indentation error reported at the start of a line: underline the key, not the blank.
      if (/^\s/.test(location.sourceLine?.charAt(location.column - 1) ?? '') && location.sourceLine?.trim())
        location = source.locateLineStart(location.line)
      return {
        code: 'RECIPE_YAML_SYNTAX',
        message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
        location,
        hint: MISPLACED_KEY.test(error.message) ? INDENT_HINT : SYNTAX_HINT,
      }
    })
}

/** yaml refuses to expand too many aliases (a "billion laughs" file): say so at the first alias. */
function aliasIssue(error: unknown, doc: Document, source: RecipeSource): RecipeIssue {
  if (!(error instanceof Error && /alias/i.test(error.message))) throw error
  let offset = 0
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0
      return visit.BREAK
    },
  })
  return {
    code: 'RECIPE_YAML_SYNTAX',
    message: `${lowerFirst(error.message)}: the aliases (*name) of this file expand to too many nodes`,
    location: source.locate(offset, 1),
    hint: 'Write the values out, or use fewer nested anchors and aliases.',
  }
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

/** Collects issues with their positions in the YAML document. */
export class IssueCollector {
  readonly list: RecipeIssue[] = []
  private readonly doc: Document
  private readonly source: RecipeSource
  /** Dotted paths of values whose var references were refused (see applyRecipeVars). */
  silenced: ReadonlySet<string> = new Set()
  /** What each value that held var references reads with their values, by dotted path. */
  substituted: ReadonlyMap<string, unknown> = new Map()

  constructor(doc: Document, source: RecipeSource) {
    this.doc = doc
    this.source = source
  }

  /** Where the value (or with `key`, the key) at `path` is; with `find`, where that text is inside it, when it is written as is. */
  locate(path: RecipePath, options: { key?: boolean; find?: string } = {}): SourceLocation {
    const range = findNodeRange(this.doc, path, options)
    if (!range) return { file: this.source.file, line: 1, column: 1 }
    const inside = options.find === undefined ? -1 : this.source.text.slice(range[0], range[1]).indexOf(options.find)
    if (inside >= 0) return this.source.locate(range[0] + inside, options.find!.length)
    return this.source.locate(range[0], range[1] - range[0])
  }

  /** The text of the value at `path` as written in the file (`1.0` stays `1.0`). */
  sourceText(path: RecipePath): string | undefined {
    const range = findNodeRange(this.doc, path)
    return range ? this.source.text.slice(range[0], range[1]) : undefined
  }

  add(
    code: RecipeErrorCode,
    message: string,
    path: RecipePath,
    options: { key?: boolean; hint?: string; find?: string } = {},
  ): void {
    // A value whose var reference was refused is not also refused for what the reference looks like.
    if (!code.includes('_VAR') && this.silenced.has(toDotPath(path))) return
    const issue: RecipeIssue = { code, message, path: toDotPath(path), location: this.locate(path, options) }
    if (options.hint) issue.hint = options.hint
    this.list.push(issue)
  }

  addZodIssue(issue: z.core.$ZodIssue): void {
    const path = issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const suggestion = didYouMean(key, knownKeysAt(path))
        this.add('RECIPE_UNKNOWN_KEY', `unknown key "${key}"`, [...path, key], {
          key: true,
          hint: suggestion ? `Did you mean "${suggestion}"?` : `Allowed keys here: ${knownKeysAt(path).join(', ')}.`,
        })
      }
      return
    }
    if (issue.code === 'invalid_key' && path.length === 2 && path[0] === 'vars') {
      this.add('RECIPE_SCHEMA', `"${String(path[1])}" is not a var name`, path, {
        key: true,
        hint: 'A var name is letters, digits and "_", not starting with a digit (it is also read from RECIPES_VAR_<NAME>).',
      })
      return
    }
    let message = issue.code === 'invalid_union' ? unionMessage(path) : lowerFirst(issue.message)
    // The value as written may be fine: say what it read once its vars were put in.
    const dotPath = toDotPath(path)
    if (this.substituted.has(dotPath))
      message += `; with its vars it reads ${JSON.stringify(this.substituted.get(dotPath))}`
    const missing = issue.code === 'invalid_type' && issue.message.includes('received undefined')
    this.add('RECIPE_SCHEMA', missing ? `missing required key "${String(path.at(-1))}"` : message, path, {
      hint: missing ? `Add "${String(path.at(-1))}" here.` : `See ${SCHEMA_REFERENCE} for the allowed values.`,
    })
  }
}

function knownKeysAt(path: RecipePath): readonly string[] {
  const last = path.at(-1)
  if (path.length === 0) return KNOWN_KEYS.recipe
  if (path.length === 1 && last === 'test_meta') return KNOWN_KEYS.testMeta
  if (path.length === 2 && path[0] === 'vars') return KNOWN_KEYS.variable
  if (path[0] === 'steps' && path.length === 2) return KNOWN_KEYS.step
  if (last === 'success') return KNOWN_KEYS.success
  if (last === 'expect') return ['status', 'reason_matches', 'exit_code']
  if (last === 'retry') return ['max', 'delay_sec', 'on']
  return []
}

function unionMessage(path: RecipePath): string {
  if (path.length === 2 && path[0] === 'vars')
    return 'expected a default value (text, number, true or false) or a mapping {default, type, description}'
  switch (path.at(-1)) {
    case 'args':
    case 'params':
      return 'expected a mapping of parameters (or a list)'
    case 'depends_on':
      return 'expected a step name or a list of step names'
    case 'expect':
      return 'expected "ok", "error" or a mapping {status, reason_matches, exit_code}'
    case 'retry':
      return 'expected a number of retries or a mapping {max, delay_sec, on}'
    case 'cmd':
      return 'expected a script path or an argv list'
    default:
      return 'value has the wrong form'
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}
