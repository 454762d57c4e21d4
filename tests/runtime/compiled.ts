import { join } from 'node:path'
import type { Recipe } from '../../plugin/recipe/types.ts'
import type { CompiledRecipe } from '../../plugin/runtime/index.ts'

/** A parsed recipe as the plugin compiles it for the runtime, with the defaults and a store of its own. */
export function compiledRecipe(
  recipe: Recipe,
  root: string,
  db: string,
  ctxServer: CompiledRecipe['ctxServer'] = false,
): CompiledRecipe {
  return {
    recipe,
    root,
    keyNaming: 'error',
    stepTimeoutSec: 30,
    resourceWaitSec: 600,
    python: { executable: 'python3', path: [root] },
    logs: { dir: join(root, 'Logs'), ram: false },
    debug: false,
    db,
    ctxServer,
    secrets: [],
  }
}
