/** `vitest-recipes`: the Vitest plugin and the recipe model. */
import { recipes } from './compile/vite-plugin.ts'

export default recipes
export { recipes, compileRecipe } from './compile/vite-plugin.ts'
export { DEFAULT_RECIPE_GLOBS } from './compile/options.ts'
export type { RecipesOptions } from './compile/options.ts'
export { parseRecipe } from './recipe/parse.ts'
export { RecipeError, formatRecipeIssues } from './recipe/errors.ts'
export type { RecipeErrorCode, RecipeIssue, SourceLocation } from './recipe/errors.ts'
export type { Recipe, RecipeStep, StepType, TestMeta, SuccessChecks, ExpectSpec, RetrySpec } from './recipe/types.ts'
export { recipeStepMeta } from './runtime/meta.ts'
export type { RecipeStepMeta, RecipeTaskMeta, StepStatus } from './runtime/meta.ts'
