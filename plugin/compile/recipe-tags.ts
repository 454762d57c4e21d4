import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createFilter } from 'vite'
import { parse } from 'yaml'
import { readRecipe } from '../recipe/parse.ts'
import { projectPath } from '../recipe/project-path.ts'
import type { Recipe } from '../recipe/types.ts'
import type { VarSources } from '../recipe/vars.ts'

/** A Vitest tag definition (Vitest >= 4.1 `test.tags`): the fields the plugin sets. */
export interface RecipeTagDefinition {
  name: string
  description: string
}

/** The Vitest tags of a step's test: its recipe's `test_meta.tags`, then its own `tags:`, each once. */
export function stepTestTags(recipeTags: readonly string[], stepTags: readonly string[]): string[] {
  // An empty tag names nothing (and --tags-filter could not name it).
  return [...new Set([...recipeTags, ...stepTags])].filter((tag) => tag !== '')
}

/**
 * The tags of a recipe's tests that Vitest does not define (`known`: its defined tags, under
 * strict tags): tags added to a recipe after Vitest started (watch mode), which its config hook
 * could not define. Their tests go without them (strict tags would fail them), with a warning.
 */
export function undefinedTags(recipe: Recipe, known: ReadonlySet<string>): string[] {
  const all = stepTestTags(
    recipe.testMeta.tags,
    recipe.steps.flatMap((step) => step.tags),
  )
  return all.filter((tag) => !known.has(tag))
}

/**
 * The tags the project's recipes use, as Vitest tag definitions: each names where it comes
 * from (`recipes/a.yaml`, `recipes/b.yaml (step x)`), so `vitest --list-tags` says which
 * recipe a tag belongs to, and strict tags (Vitest's default) never reject a recipe's tag.
 * Read from the YAML as written, without checking the recipe: a broken recipe fails in its
 * own test module, never here. Sorted by name, for a stable listing.
 */
export function recipeTagDefinitions(
  root: string,
  include: readonly string[],
  exclude?: string | readonly string[],
  vars: VarSources = { env: process.env },
): RecipeTagDefinition[] {
  const sources = new Map<string, string[]>()
  const add = (tag: unknown, source: string) => {
    if (typeof tag !== 'string' || tag === '') return
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
      document = parse(text)
    } catch {
      continue
    }
    if (!isObject(document)) continue
    const shown = projectPath(root, file)
    for (const tag of recipeLevelTags(document, text, shown, vars)) add(tag, shown)
    const steps = Array.isArray(document.steps) ? document.steps : []
    for (const step of steps) {
      if (!isObject(step) || !Array.isArray(step.tags)) continue
      for (const tag of step.tags) add(tag, `${shown} (step ${String(step.name)})`)
    }
  }
  return [...sources]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, from]) => ({ name, description: `recipe tag: ${from.join(', ')}` }))
}

/**
 * A recipe's `test_meta.tags` as its tests get them: a tag written with a var (`${{ vars.SITE }}`)
 * has the var's value, so the whole recipe is read for those (only those: reading is slower).
 */
function recipeLevelTags(document: Record<string, unknown>, text: string, shown: string, vars: VarSources): unknown[] {
  const meta = document.test_meta
  const tags = isObject(meta) && Array.isArray(meta.tags) ? meta.tags : []
  if (!tags.some((tag) => typeof tag === 'string' && tag.includes('${{'))) return tags
  const reading = readRecipe(text, shown, { vars })
  // A recipe whose vars do not resolve fails in its own test module; its tags here are the others.
  return reading.recipe?.testMeta.tags ?? tags.filter((tag) => typeof tag === 'string' && !tag.includes('${{'))
}

/** The recipe files under `root` that `include` (less `exclude`) matches; only the folders the globs start with are walked. */
export function recipeFiles(root: string, include: readonly string[], exclude?: string | readonly string[]): string[] {
  const matches = createFilter(include as string[], exclude as string[] | undefined, { resolve: root })
  const bases = [...new Set(include.map((glob) => resolve(root, staticBase(glob))))]
  const found = new Set<string>()
  const walk = (folder: string) => {
    let entries: import('node:fs').Dirent[]
    try {
      entries = readdirSync(folder, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const path = join(folder, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(path)
      } else if (entry.isFile() && matches(path)) found.add(path)
    }
  }
  // A base inside another is walked once, with it.
  for (const base of bases) if (!bases.some((other) => other !== base && base.startsWith(`${other}/`))) walk(base)
  return [...found].sort()
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
