import { accessSync, constants, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONTEXT_KEY_PATTERN } from '../../context/context.ts'
import { declaredOutputs } from '../../recipe/declared-outputs.ts'
import { formatRecipeIssues, type RecipeIssue, sortIssues } from '../../recipe/errors.ts'
import { unusedGivenVars } from '../../recipe/matrix.ts'
import { RecipeSource } from '../../recipe/source.ts'
import { varSourcesOf } from '../../recipe/vars.ts'
import type { Recipe } from '../../recipe/types.ts'
import { EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs } from '../args.ts'
import { combinationPreflightIssues, preflightRecipes } from '../preflight.ts'
import { refuseVarsNoneDeclares, withCliVars } from '../var-flags.ts'
import { listScriptletFiles } from '../scriptlet-files.ts'
import { type CliIo, maskedIo } from '../io.ts'
import { findRecipeFiles, loadProject, loadRecipe } from '../project.ts'
import { DEFAULT_PYTHON_PATH } from '../../compile/options.ts'
import { pythonSearchPath } from '../../recipe/python-module.ts'
import { stepFiles } from '../../recipe/step-files.ts'
import { weakSecretWarning } from '../../compile/recipe-warnings.ts'
import { createRedactor } from '../../runtime/redact.ts'
import { projectPath } from '../../recipe/project-path.ts'

export const VALIDATE_HELP = `Usage: recipes validate [files or folders...] [--scriptlets <dir>]

Checks every recipe (as the compiler does), each step's args against its scriptlet's
parameters, what each step reads against what the steps it depends on write (scriptlets
declare both: see docs/scriptlets.md), and every scriptlet under scriptlets/ (given
recipe files or folders: the scriptlets their steps run):
file names (lowercase, _ or -), shell scriptlets' NAME/DESC header, #! line, Unix line
ends and executable bit (files under a lib/ folder are helpers and exempt), and that
context keys in recipes and in literal ctx.set("...") calls follow namespace.entity_vN.
Prints each problem as file:line:col and exits 3 when there is one, 0 otherwise.

Options:
  --scriptlets <dir>   Folder of scriptlets to check (default: scriptlets, or the named recipes' own)
  --var <name=value>   Give a recipe var a value (repeatable), as recipes run does: a var
                       without a default is an error unless given (or RECIPES_VAR_<NAME> is set)
  -h, --help           Show this help`

const KEY_NAMING_HINT = 'Name keys like metrics.summary_v1; a change of shape gets a new _vN key.'
const SCRIPTLET_NAME = /^[a-z0-9][a-z0-9_-]*\.(ts|js|mjs|py|sh|awk)$/

const OPTIONS = {
  scriptlets: { type: 'string' },
  var: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const

export async function validateCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(args, OPTIONS, 'validate')
  return withCliVars(parsed.values.var, () => validateWithVars(parsed, io))
}

async function validateWithVars(
  { values, positionals }: ReturnType<typeof parseCommandArgs<typeof OPTIONS>>,
  given: CliIo,
): Promise<number> {
  let io = given
  if (values.help) {
    io.stdout(`${VALIDATE_HELP}\n`)
    return EXIT_OK
  }
  const project = await loadProject(io.cwd)
  const files = findRecipeFiles(project, positionals)
  const warnings: string[] = []
  const recipes: Recipe[] = []
  // Each file's problems, in file order: those of its reading, then those of its steps' scriptlets.
  const fileIssues = new Map<string, RecipeIssue[]>()
  // A recipe with problems is still checked against its scriptlets when it can be (its draft):
  // every problem of a file comes in one round.
  const checkable: Recipe[] = []
  const refused = new Map<Recipe, ReadonlySet<string>>()
  const loadedFiles = files.map((file) => [file, loadRecipe(project, file)] as const)
  // A var's or a combination's value may be a secret's: masked in all validate says (problems name combinations).
  io = maskedIo(
    given,
    createRedactor([
      ...loadedFiles.flatMap(([, { recipe, draft }]) => (recipe ?? draft)?.secrets ?? []),
      ...(project.options.secrets ?? []),
    ]).text,
  )
  refuseVarsNoneDeclares(
    values.var,
    loadedFiles.map(([, loaded]) => loaded),
  )
  for (const [file, loaded] of loadedFiles) {
    fileIssues.set(file, [...loaded.issues])
    const recipe = loaded.recipe ?? loaded.draft
    if (!recipe) continue
    // A matrix recipe is checked with each combination's values: one may give a scriptlet what it refuses.
    const combinations = loaded.combinations ?? [recipe]
    checkable.push(...combinations)
    if (loaded.refused) for (const combination of combinations) refused.set(combination, loaded.refused)
    fileIssues.get(file)!.push(...recipeKeyIssues(recipe))
    if (!loaded.recipe) continue
    recipes.push(loaded.recipe)
    warnings.push(...(loaded.warnings ?? []), ...unusedGivenVars(loaded.recipe, varSourcesOf(project.options.vars)))
    const warning = weakSecretWarning(loaded.recipe, process.env, project.options.secrets)
    if (warning) warnings.push(warning)
  }
  // Args against scriptlet parameters and reads against writes: what the compiled recipe checks first.
  const notes = new Set<string>()
  if (checkable.length > 0) {
    const results = await preflightRecipes(project, checkable, refused)
    for (const [file, issues] of combinationPreflightIssues(results)) fileIssues.get(file)!.push(...issues)
    for (const [recipe, result] of results)
      if (result.note && recipes.some((valid) => valid.file === recipe.file)) notes.add(result.note)
  }
  const issues = [...fileIssues.values()].flatMap((found) => sortIssues(found))
  // Warnings do not change the exit code: the recipe runs as it is.
  for (const warning of warnings) io.stderr(`${warning}\n`)
  // Named recipes: only the scriptlets their steps run; the whole project: every file under scriptlets/.
  const scriptlets =
    positionals.length > 0 && values.scriptlets === undefined
      ? [
          ...new Set(
            stepFiles(
              checkable.flatMap((recipe) => recipe.steps),
              project.root,
              pythonSearchPath(project.options.python?.path ?? DEFAULT_PYTHON_PATH, project.root),
            ).map((item) => item.file),
          ),
        ].sort()
      : listScriptletFiles(join(project.root, values.scriptlets ?? 'scriptlets'))
  for (const path of scriptlets) issues.push(...scriptletIssues(path, projectPath(project.root, path)))
  if (issues.length > 0) {
    io.stderr(`${formatRecipeIssues(issues, 'found')}\n`)
    return EXIT_INVALID
  }
  // What could not be checked matters once everything else is right.
  for (const note of notes) io.stderr(`note: ${note}\n`)
  const warned = warnings.length === 0 ? '' : ` (${warnings.length} warning(s) above)`
  io.stdout(`${files.length} recipe(s) and ${scriptlets.length} scriptlet file(s) are valid${warned}\n`)
  return EXIT_OK
}

/** Context keys named in a recipe's checks and save: mappings. */
function recipeKeyIssues(recipe: Recipe): RecipeIssue[] {
  const issues: RecipeIssue[] = []
  for (const step of recipe.steps) {
    for (const key of declaredOutputs(step)) {
      if (CONTEXT_KEY_PATTERN.test(key)) continue
      issues.push({
        code: 'RECIPE_SCHEMA',
        message: `context key "${key}" of step "${step.name}" is not namespace.entity_vN`,
        path: `steps[${step.index}]`,
        location: step.locations.step,
        hint: KEY_NAMING_HINT,
      })
    }
  }
  return issues
}

function scriptletIssues(path: string, file: string): RecipeIssue[] {
  const issues: RecipeIssue[] = []
  const name = file.slice(file.lastIndexOf('/') + 1)
  const text = readFileSync(path, 'utf8')
  const source = new RecipeSource(file, text)
  const at = (offset: number, length = 1) => source.locate(offset, length)
  if (!SCRIPTLET_NAME.test(name) && name !== '__init__.py') {
    issues.push({
      code: 'RECIPE_SCHEMA',
      message: `scriptlet file name "${name}" should be lowercase with _ or -`,
      location: at(0),
      hint: 'Rename it, for example compute_mean.ts or sanitize-csv.sh.',
    })
  }
  // Files under a lib/ folder are sourced or imported helpers, not scriptlets run by a step.
  if (name.endsWith('.sh') && !file.split('/').includes('lib')) {
    const head = text.split('\n').slice(0, 30).join('\n')
    for (const field of ['NAME', 'DESC']) {
      if (!new RegExp(`^#\\s*${field}\\b`, 'm').test(head)) {
        issues.push({
          code: 'RECIPE_SCHEMA',
          message: `shell scriptlet has no "# ${field}:" header line`,
          location: at(0),
          hint: 'Start the script with a header: NAME, DESC, USAGE, RETURNS.',
        })
      }
    }
    // What makes a script fail before its first command: a Windows editor's CRLF ("/bin/bash\r"
    // does not exist), or no #! line (then /bin/sh runs it, which is dash on Debian, not bash).
    if (text.includes('\r\n')) {
      issues.push({
        code: 'RECIPE_SCHEMA',
        message:
          'shell scriptlet has Windows line ends (CRLF): its #! line asks for an interpreter name ending in \\r, and bash reads a \\r at the end of each line',
        location: at(0),
        hint: `Convert it to Unix line ends: sed -i 's/\\r$//' ${file} (or dos2unix ${file}).`,
      })
    }
    if (!text.startsWith('#!')) {
      issues.push({
        code: 'RECIPE_SCHEMA',
        message: 'shell scriptlet has no #! line, so /bin/sh (not bash) runs it',
        location: at(0),
        hint: 'Make #!/usr/bin/env bash its first line.',
      })
    }
    try {
      accessSync(path, constants.X_OK)
    } catch {
      issues.push({
        code: 'RECIPE_SCHEMA',
        message: 'shell scriptlet is not executable',
        location: at(0),
        hint: `chmod +x ${file}`,
      })
    }
  }
  // Literal keys only: a key built at run time (or a format string in a message) cannot be checked here.
  for (const match of text.matchAll(/ctx\.set\(\s*(['"])([A-Za-z0-9_.]+)\1/g)) {
    const key = match[2]!
    if (CONTEXT_KEY_PATTERN.test(key)) continue
    issues.push({
      code: 'RECIPE_SCHEMA',
      message: `ctx.set key "${key}" is not namespace.entity_vN`,
      location: at(match.index + match[0].indexOf(key), key.length),
      hint: KEY_NAMING_HINT,
    })
  }
  return issues
}
