import type { KeyNamingMode } from '../context/context.ts'
import type { Recipe } from '../recipe/types.ts'

/** What a compiled recipe module hands to the runtime: the parsed recipe and run settings. */
export interface CompiledRecipe {
  recipe: Recipe
  /** Absolute project root: relative paths in the recipe resolve from here. */
  root: string
  keyNaming: KeyNamingMode
}

/** Module namespaces of the recipe's TypeScript scriptlets, by the `module` string of the recipe. */
export type ScriptletModules = Record<string, Record<string, unknown>>
