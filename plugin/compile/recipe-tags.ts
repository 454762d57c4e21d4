import { type Dirent, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createFilter } from 'vite'
import { readCombinations } from '../recipe/check.ts'
import { combinationLabels } from '../recipe/matrix.ts'
import { createRedactor, type SecretName } from '../runtime/redact.ts'
import { readRecipe } from '../recipe/parse.ts'
import { projectPath } from '../recipe/project-path.ts'
import { parseRecipeYaml } from '../recipe/recipe-text.ts'
import type { Recipe } from '../recipe/types.ts'
import type { VarSources } from '../recipe/vars.ts'

/** A Vitest tag definition (Vitest >= 4.1 `test.tags`): the fields the plugin sets. */
export interface RecipeTagDefinition {
  name: string
  description: string
}

/** The Vitest tags of a step's test: its recipe's `test_meta.tags`, then its own `tags:`, each once. */
export function stepTestTags(recipeTags: readonly string[], stepTags: readonly string[]): string[] {
  return [...new Set([...recipeTags, ...stepTags])].filter(isVitestTagName)
}

/**
 * Whether Vitest takes `name` as a tag: Vitest refuses to start with a defined tag that has a
 * space, one of `!*&|()`, or is `and`, `or`, `not`; an empty tag names nothing. A recipe's tag
 * that is not one (`rack 1`, from a var) stays the run's label, but is no Vitest tag.
 */
export function isVitestTagName(name: string): boolean {
  return name !== '' && !/[\s!*&|()]/.test(name) && !/^(and|or|not)$/i.test(name)
}

/**
 * The tags of a recipe's tests that Vitest does not define (`known`: its defined tags, under
 * strict tags): tags added to a recipe after Vitest started (watch mode), which its config hook
 * could not define. Their tests go without them (strict tags would fail them), with a warning.
 */
export function undefinedTags(recipes: readonly Recipe[], known: ReadonlySet<string>): string[] {
  const all = recipes.flatMap((recipe) =>
    stepTestTags(
      recipe.testMeta.tags,
      recipe.steps.flatMap((step) => step.tags),
    ),
  )
  return [...new Set(all)].filter((tag) => !known.has(tag))
}

/** The tags of recipes (a matrix's combinations) that Vitest cannot name (`isVitestTagName`): their tests go without them. */
export function unnamableTags(recipes: readonly Recipe[]): string[] {
  const all = recipes.flatMap((recipe) => [...recipe.testMeta.tags, ...recipe.steps.flatMap((step) => step.tags)])
  return [...new Set(all)].filter((tag) => tag !== '' && !isVitestTagName(tag))
}

/**
 * The tags the project's recipes use, as Vitest tag definitions: each names where it comes
 * from (`recipes/a.yaml`, `recipes/b.yaml (step x)`, `recipes/m.yaml for dut=sw2` when only
 * some combinations of a matrix have it), so `vitest --list-tags` says which recipe a tag
 * belongs to, and strict tags (Vitest's default) never reject a recipe's tag. Read from the
 * YAML as written, without checking the recipe: a broken recipe fails in its own test module,
 * never here; a tag Vitest cannot name (`isVitestTagName`) is left out, as Vitest would not
 * start. Sorted by name, for a stable listing.
 */
export function recipeTagDefinitions(
  root: string,
  include: readonly string[],
  exclude?: string | readonly string[],
  vars: VarSources = { env: process.env },
  secrets: readonly SecretName[] = [],
): RecipeTagDefinition[] {
  const sources = new Map<string, string[]>()
  const add = (tag: unknown, source: string) => {
    if (typeof tag !== 'string' || !isVitestTagName(tag)) return
    const list = sources.get(tag) ?? []
    if (!list.includes(source)) list.push(source)
    sources.set(tag, list)
  }
  for (const file of recipeFiles(root, include, exclude)) {
    let document: unknown
    let text: string
    try {
      text = readFileSync(file, 'utf8')
      // Most recipes have no tags: not parsed (this runs for every recipe each time Vitest starts).
      if (!text.includes('tags')) continue
      document = parseRecipeYaml(text)
    } catch {
      continue
    }
    if (!isObject(document)) continue
    // A tag a var gives a secret's value is no tag: masked, it is the run's label (`***`), never a Vitest tag.
    const own = Array.isArray(document.secrets) ? document.secrets.filter((name) => typeof name === 'string') : []
    const mask = createRedactor([...own, ...secrets]).text
    for (const [tag, source] of recipeTags(document, text, projectPath(root, file), vars, mask))
      if (typeof tag !== 'string' || mask(tag) === tag) add(tag, source)
  }
  return [...sources]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, from]) => ({ name, description: `recipe tag: ${from.join(', ')}` }))
}

/**
 * A recipe's tags as its tests get them, each with where it comes from (`recipes/a.yaml`,
 * `recipes/a.yaml (step x)`). A step's tag written with a var is none: vars cannot be used
 * there, and its recipe fails at that line in its own test module.
 */
function recipeTags(
  document: Record<string, unknown>,
  text: string,
  shown: string,
  vars: VarSources,
  mask: (text: string) => string,
): [tag: unknown, source: string][] {
  const meta = document.test_meta
  const steps = Array.isArray(document.steps) ? document.steps.filter(isObject) : []
  return [
    ...metaTags(isObject(meta) && Array.isArray(meta.tags) ? meta.tags : [], text, shown, vars, mask),
    ...steps.flatMap((step) =>
      (Array.isArray(step.tags) ? step.tags : [])
        .filter((tag) => !writtenWithVar(tag))
        .map((tag): [unknown, string] => [tag, `${shown} (step ${String(step.name)})`]),
    ),
  ]
}

/**
 * A recipe's `test_meta.tags` as its tests get them: a tag written with a var (`${{ vars.dut }}`)
 * has the var's value, so the whole recipe is read for those (only those: reading is slower);
 * a matrix recipe once per combination, each combination's tests having its own values. A tag
 * that only some combinations have names them (`recipes/a.yaml for dut=sw2 | dut=sw3`).
 */
function metaTags(
  tags: readonly unknown[],
  text: string,
  shown: string,
  vars: VarSources,
  mask: (text: string) => string,
): [unknown, string][] {
  if (!tags.some(writtenWithVar)) return tags.map((tag) => [tag, shown])
  const reading = readRecipe(text, shown, { vars })
  const readings = reading.recipe ? readCombinations(text, shown, reading, vars) : []
  // A recipe whose vars do not resolve fails in its own test module; its tags here are the others.
  if (readings.length === 0 || readings.some((read) => read.issues.length > 0 || !read.recipe))
    return tags.filter((tag) => !writtenWithVar(tag)).map((tag) => [tag, shown])
  const recipes = readings.map((read) => read.recipe!)
  const from = new Map<string, string[]>()
  const labels = combinationLabels(
    recipes.map((recipe) => recipe.combination ?? {}),
    mask,
  )
  for (const [i, recipe] of recipes.entries()) {
    const label = labels[i]!
    for (const tag of recipe.testMeta.tags) {
      const labels = from.get(tag) ?? []
      if (!labels.includes(label)) from.set(tag, [...labels, label])
    }
  }
  return [...from].map(([tag, labels]) => [
    tag,
    labels.length === recipes.length ? shown : `${shown} for ${labels.join(' | ')}`,
  ])
}

const writtenWithVar = (tag: unknown) => typeof tag === 'string' && tag.includes('${{')

/** The recipe files under `root` that `include` (less `exclude`) matches; only the folders the globs start with are walked. */
export function recipeFiles(root: string, include: readonly string[], exclude?: string | readonly string[]): string[] {
  const matches = createFilter(include as string[], exclude as string[] | undefined, { resolve: root })
  const bases = [...new Set(include.map((glob) => resolve(root, staticBase(glob))))]
  const found = new Set<string>()
  const walked = new Set<string>()
  const walk = (folder: string) => {
    let entries: import('node:fs').Dirent[]
    try {
      // A folder reached twice through symlinks (or a link back up) is walked once.
      const real = realpathSync(folder)
      if (walked.has(real)) return
      walked.add(real)
      entries = readdirSync(folder, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const path = join(folder, entry.name)
      // Symlinks are followed, as Vitest's globs follow them: a linked recipe or folder is a recipe or folder.
      const kind = entryKind(entry, path)
      if (kind === 'folder') {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(path)
      } else if (kind === 'file' && matches(path)) found.add(path)
    }
  }
  // A base inside another is walked once, with it.
  for (const base of bases) if (!bases.some((other) => other !== base && base.startsWith(`${other}/`))) walk(base)
  return [...found].sort()
}

/** What a folder entry is, a symlink by what it points at (nothing when it points nowhere). */
export function entryKind(entry: Dirent, path: string): 'file' | 'folder' | undefined {
  if (entry.isSymbolicLink()) {
    try {
      const stat = statSync(path)
      return stat.isDirectory() ? 'folder' : stat.isFile() ? 'file' : undefined
    } catch {
      return undefined
    }
  }
  return entry.isDirectory() ? 'folder' : entry.isFile() ? 'file' : undefined
}

/** The folder a glob starts in: its segments before the first with a glob character. */
function staticBase(glob: string): string {
  const segments = glob.split('/')
  const index = segments.findIndex((segment) => /[*?[\]{}()!]/.test(segment))
  const fixed = index === -1 ? segments.slice(0, -1) : segments.slice(0, index)
  return fixed.join('/') || '.'
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
