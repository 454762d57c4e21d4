/**
 * Errors a user can fix in a recipe file. Each carries a stable `code`, the place in the
 * file (`recipes/x.yaml:12:5`), the dotted path of the offending value and a hint that says
 * what to do. `formatRecipeIssue` renders the source line with a `^` marker under the spot.
 */

export type RecipeErrorCode =
  | 'RECIPE_YAML_SYNTAX'
  | 'RECIPE_SCHEMA'
  | 'RECIPE_UNKNOWN_KEY'
  | 'RECIPE_DUPLICATE_STEP'
  | 'RECIPE_UNKNOWN_DEPENDENCY'
  | 'RECIPE_DEPENDENCY_CYCLE'
  | 'RECIPE_MODULE_NOT_FOUND'
  | 'RECIPE_EXPORT_NOT_FOUND'
  | 'RECIPE_PATH_OUTSIDE_WORKSPACE'
  | 'RECIPE_PARAMS'
  | 'RECIPE_REFUSED_ENV_NAME'
  | 'RECIPE_DATAFLOW'
  | 'RECIPE_UNKNOWN_VAR'
  | 'RECIPE_UNSET_VAR'
  | 'RECIPE_VAR_EXPRESSION'
  | 'RECIPE_VAR_VALUE'
  | 'RECIPE_VAR_NOT_ALLOWED'
  | 'RECIPE_MATRIX'
  | 'RECIPE_ENCODING'
  | 'RECIPE_TOO_LARGE'
  | 'RECIPE_FILE_NAME'

/** Where an issue sits: 1-based line and column, plus the text of that line. */
export interface SourceLocation {
  /** File path as shown to the user, relative to the project root. */
  file: string
  line: number
  column: number
  /** Number of characters to underline (at least 1). */
  length?: number
  /** The full text of `line`, used for the code frame. */
  sourceLine?: string
}

export interface RecipeIssue {
  code: RecipeErrorCode
  message: string
  /** Dotted path into the recipe, such as `steps[2].success.ctx_has_keys`. */
  path?: string
  location?: SourceLocation
  /** What the user should do about it. */
  hint?: string
}

/**
 * The issues with `mask` (a redactor's `text`) applied to what they say: a problem a var's
 * value causes quotes the value, and names its matrix combination by its values, which may be
 * a secret's.
 */
export function maskIssues(issues: readonly RecipeIssue[], mask: (text: string) => string): RecipeIssue[] {
  return issues.map((issue) => ({
    ...issue,
    message: mask(issue.message),
    ...(issue.hint === undefined ? {} : { hint: mask(issue.hint) }),
    ...(issue.location?.sourceLine === undefined
      ? {}
      : { location: { ...issue.location, sourceLine: mask(issue.location.sourceLine) } }),
  }))
}

/** Thrown for recipes that cannot run; holds every issue found in the file. */
export class RecipeError extends Error {
  override name = 'RecipeError'
  readonly code: RecipeErrorCode
  readonly issues: readonly RecipeIssue[]

  constructor(issues: readonly RecipeIssue[]) {
    const first = issues[0]
    if (!first) throw new TypeError('RecipeError needs at least one issue')
    super(formatRecipeIssues(issues))
    this.code = first.code
    this.issues = issues
    // The frames would point into the compiler; the message already says where to look.
    this.stack = `${this.name}: ${this.message}`
  }
}

/** Issues in file order (by line, then column); those without a place first. */
export function sortIssues(issues: readonly RecipeIssue[]): RecipeIssue[] {
  return [...issues].sort(
    (a, b) =>
      (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.column ?? 0) - (b.location?.column ?? 0),
  )
}

export function formatRecipeIssues(issues: readonly RecipeIssue[], where = 'in this recipe'): string {
  const body = issues.map(formatRecipeIssue).join('\n\n')
  return issues.length === 1 ? body : `${issues.length} problems ${where}:\n\n${body}`
}

export function formatRecipeIssue(issue: RecipeIssue): string {
  const where = issue.location ? `${issue.location.file}:${issue.location.line}:${issue.location.column} ` : ''
  const path = issue.path ? ` (at ${issue.path})` : ''
  const lines = [`${where}${issue.code}: ${issue.message}${path}`]
  const frame = issue.location && formatCodeFrame(issue.location)
  if (frame) lines.push(frame)
  if (issue.hint) lines.push(`  ${issue.hint}`)
  return lines.join('\n')
}

function formatCodeFrame({ line, column, length = 1, sourceLine }: SourceLocation): string | undefined {
  if (sourceLine === undefined) return undefined
  const gutter = String(line)
  const pad = ' '.repeat(gutter.length)
  const marker = ' '.repeat(Math.max(0, column - 1)) + '^'.repeat(Math.max(1, length))
  return `  ${gutter} | ${sourceLine}\n  ${pad} | ${marker}`
}
