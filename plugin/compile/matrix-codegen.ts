import { Buffer } from 'node:buffer'
import type { CompiledRecipe } from '../runtime/spec.ts'
import { type GeneratedModule, leanSpec, ModuleLines, stepTestCode, vitestTimeoutsMs } from './codegen.ts'
import type { Origin } from './source-map.ts'

/** One combination of a matrix recipe, compiled with its values. */
export interface MatrixRun {
  compiled: CompiledRecipe
  /** Its group's name: its values, `dut=rack1-sw2`. */
  label: string
  /** Left to another shard (RECIPES_MATRIX_SHARD): its group is listed, skipped. */
  skip: boolean
}

export interface MatrixCodegenInput {
  runs: readonly MatrixRun[]
  /** How many combinations run side by side at most (`matrix_parallel:`). */
  parallel: number
  file: string
  source: string
  modules: ReadonlyMap<string, string>
  watched?: readonly string[]
  /** The tags Vitest defines, when it rejects others (strict tags); a step's test gets only these. */
  vitestTags?: ReadonlySet<string> | undefined
  /** Where the recipe's `matrix:` is: each group's line maps there (the IDE's explorer, `vitest list --json`). */
  origin?: Origin | undefined
}

/** The wait of a group for its turn: bounded only by the runs before it, whose own timeouts bound them. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The test module of a matrix recipe: one concurrent `describe('<values>')` per combination,
 * each with its own runner (its own run, ctx and resources) and the recipe's steps as its
 * tests, each on its own line mapped to the step's YAML line. The groups run side by side
 * (Vitest runs a file's concurrent suites together, up to its maxConcurrency; `matrix_parallel`
 * bounds them further); the steps inside a group keep the recipe's order: sequential ones one
 * after the other, neighbouring `parallel` ones together.
 */
export function generateMatrixModule({
  runs,
  parallel,
  file,
  source,
  modules,
  watched = [],
  origin,
  vitestTags,
}: MatrixCodegenInput): GeneratedModule {
  const out = new ModuleLines()
  const top = { line: 1, column: 1 }
  const namespaces = out.imports(
    'afterAll, beforeAll, describe, test',
    'defineMatrix, defineRecipe',
    file,
    modules,
    watched,
  )
  out.emit(`const __modules = { ${namespaces.join(', ')} };`, top)
  out.emit(`const __matrix = defineMatrix(${parallel});`, top)
  for (const { compiled, label, skip } of runs) {
    // The whole list of combinations is the compiler's: each run carries only its own.
    const { matrix: _matrix, ...recipe } = compiled.recipe
    const own = leanSpec({ ...compiled, recipe })
    const spec = Buffer.from(JSON.stringify(own)).toString('base64')
    out.emit(`describe${skip ? '.skip' : ''}(${JSON.stringify(label)}, { concurrent: true }, () => {`, origin ?? top)
    out.emit(`  const recipe = defineRecipe(JSON.parse(Buffer.from("${spec}", "base64").toString()), __modules);`, top)
    out.emit(`  beforeAll(() => __matrix.enter(), ${MAX_TIMER_MS});`, top)
    out.emit(`  afterAll(() => __matrix.leave(recipe.finish()));`, top)
    const timeouts = vitestTimeoutsMs(compiled)
    for (const step of compiled.recipe.steps)
      out.emit(`  ${stepTestCode(compiled, step, timeouts.get(step.name)!, vitestTags, true)}`, step.locations.step)
    out.emit('});', top)
  }
  return out.module(file, source)
}
