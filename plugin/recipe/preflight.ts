import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { checkDataflow, uncheckedNote } from './dataflow.ts'
import type { ParamsSchema, ScriptletDeclaration } from './declarations.ts'
import type { RecipeIssue } from './errors.ts'
import { headerDeclaration } from './header-declarations.ts'
import { checkStepParams } from './params-check.ts'
import { projectPath } from './project-path.ts'
import { stepFile } from './step-files.ts'
import type { Recipe, RecipeStep } from './types.ts'

/** What the checks read of a loaded TypeScript scriptlet (a `Scriptlet`; duck-typed here). */
export interface DeclaringScriptlet {
  // biome-ignore lint/suspicious/noExplicitAny: the params are the scriptlet's own type
  readonly reads?: readonly string[] | ((params: any) => readonly string[])
  readonly outputs?: readonly string[]
  readonly paramsSchema?: unknown
}

export interface PreflightInput {
  recipe: Recipe
  root: string
  /** Absolute search path of python modules. */
  pythonPath: readonly string[]
  /** The loaded TypeScript scriptlet of each ts step, by step name. */
  scriptlets: ReadonlyMap<string, DeclaringScriptlet>
  /**
   * Absolute file of each ts module, by the recipe's `module` string.
   * @default the module resolved against `root`
   */
  modules?: ReadonlyMap<string, string>
}

export interface PreflightResult {
  issues: RecipeIssue[]
  /** What each step's scriptlet declares (reads, outputs, params), by step name; undefined: nothing. */
  declarations: ReadonlyMap<string, ScriptletDeclaration | undefined>
  /** The "unchecked" line for this recipe, when some steps could not be checked. */
  note?: string
}

/**
 * The checks a recipe gets before any of its steps runs, beyond its own schema: each step's
 * args against its scriptlet's parameters, and the keys steps read against the keys the
 * steps they depend on write. Run by the compiled recipe (a failing file in `vitest run`),
 * `recipes validate` and `recipes plan`.
 */
export function preflightRecipe(input: PreflightInput): PreflightResult {
  const declarations = stepDeclarations(input)
  const issues: RecipeIssue[] = []
  for (const step of input.recipe.steps) issues.push(...checkStepParams(step, declarations.get(step.name)))
  const dataflow = checkDataflow(input.recipe, declarations)
  issues.push(...dataflow.issues)
  issues.sort((a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0))
  const note = uncheckedNote(input.recipe.file, dataflow)
  return note === undefined ? { issues, declarations } : { issues, declarations, note }
}

/** What each step's scriptlet declares about itself (its header, or a TypeScript scriptlet's properties), by step name. */
export function stepDeclarations(input: PreflightInput): Map<string, ScriptletDeclaration | undefined> {
  const texts = new Map<string, string | undefined>()
  const read = (file: string) => {
    if (!texts.has(file)) {
      try {
        texts.set(file, readFileSync(file, 'utf8'))
      } catch {
        texts.set(file, undefined)
      }
    }
    return texts.get(file)
  }
  const declarations = new Map<string, ScriptletDeclaration | undefined>()
  for (const step of input.recipe.steps) declarations.set(step.name, declarationOf(step, input, read))
  return declarations
}

function declarationOf(
  step: RecipeStep,
  input: PreflightInput,
  read: (file: string) => string | undefined,
): ScriptletDeclaration | undefined {
  if (step.type === 'ts') {
    const scriptlet = input.scriptlets.get(step.name)
    const file =
      step.module === undefined ? undefined : (input.modules?.get(step.module) ?? resolve(input.root, step.module))
    if (!scriptlet || !file) return undefined
    return typescriptDeclaration(scriptlet, step, projectPath(input.root, file), read(file) ?? '')
  }
  const file = stepFile(step, input.root, input.pythonPath)
  const text = file === undefined ? undefined : read(file)
  // A binary or an exec step's program is not a scriptlet with a header.
  if (file === undefined || text === undefined || text.includes('\u0000')) return undefined
  const kind = step.type === 'python' || file.endsWith('.py') ? 'python' : 'shell'
  const declaration = headerDeclaration(text, projectPath(input.root, file), kind)
  const declaresAnything =
    declaration.reads !== undefined || declaration.outputs !== undefined || declaration.params !== undefined
  return declaresAnything ? declaration : undefined
}

/** A ts step whose module has no usable scriptlet under the export it names (`reason` says why). */
export function exportNotFound(step: RecipeStep, reason: string): RecipeIssue {
  const issue: RecipeIssue = {
    code: 'RECIPE_EXPORT_NOT_FOUND',
    message: `step "${step.name}": ${reason}`,
    path: `steps[${step.index}].${step.locations.exportKey ?? 'module'}`,
    hint:
      step.export === undefined
        ? 'Add `function: <ExportName>` (or `class:`) to the step, or give the module a default export.'
        : 'Fix the export name in the recipe or in the module.',
  }
  const location = step.locations.export ?? step.locations.module
  if (location) issue.location = location
  return issue
}

/** A TypeScript scriptlet's declarations for one step: `reads` given as a function is called with its params. */
export function typescriptDeclaration(
  scriptlet: DeclaringScriptlet,
  step: RecipeStep,
  file: string,
  text: string,
): ScriptletDeclaration {
  const declaration: ScriptletDeclaration = { file, lines: {} }
  const lineOf = (pattern: RegExp) => {
    const match = pattern.exec(text)
    return match ? text.slice(0, match.index).split('\n').length : undefined
  }
  const schema = isSchema(scriptlet.paramsSchema) ? scriptlet.paramsSchema : undefined
  if (schema) {
    declaration.schema = schema
    declaration.lines.params = lineOf(/\b(params|paramsSchema)\s*[:=]/)
  }
  if (scriptlet.outputs !== undefined) {
    declaration.outputs = [...scriptlet.outputs]
    declaration.lines.outputs = lineOf(/\boutputs\s*[:=]/)
  }
  if (scriptlet.reads !== undefined) {
    declaration.lines.reads = lineOf(/\breads\s*[:=(]/)
    if (typeof scriptlet.reads === 'function') {
      const parsed = schema?.safeParse(step.params) as { success: boolean; data?: unknown } | undefined
      try {
        declaration.reads = [...scriptlet.reads(parsed?.success ? parsed.data : step.params)].map(String)
      } catch {
        // Params it cannot read (they fail the params check): its reads stay unknown.
      }
    } else declaration.reads = [...scriptlet.reads]
  }
  return declaration
}

function isSchema(value: unknown): value is ParamsSchema {
  return typeof value === 'object' && value !== null && typeof (value as ParamsSchema).safeParse === 'function'
}
