import { readFileSync } from 'node:fs'
import { parseRecipeYaml } from '../recipe/recipe-text.ts'

/**
 * Sharding a matrix: Vitest's `--shard=i/n` splits test files between processes, and a matrix
 * recipe is one file, so it would run whole in one shard. Under `--shard`, matrix recipes are
 * kept in every shard instead (the other files are split as Vitest splits them), and each
 * shard runs the i-th of every n combinations (`vitestShard` below, read by the transform):
 * n CI runners on one store run every combination once.
 */

/** The `--shard` Vitest runs with, once known (configureVitest): the combinations this process runs. */
export interface Shard {
  index: number
  count: number
}

interface Specification {
  moduleId: string
}
type Sequencer = new (
  ...args: never[]
) => { shard(files: Specification[]): Promise<Specification[]>; sort(files: Specification[]): Promise<Specification[]> }

const KEEPS_MATRICES = Symbol.for('vitest-recipes.keepsMatrices')

/** Whether `file` is a recipe with a top-level `matrix:` (a file that cannot be read or parsed is not: its error shows when it compiles). */
export function hasMatrix(file: string): boolean {
  try {
    const document = parseRecipeYaml(readFileSync(file, 'utf8'))
    return typeof document === 'object' && document !== null && 'matrix' in document
  } catch {
    return false
  }
}

/** A reporter hook: told each run's files as it starts. */
export interface RunStartHook {
  onTestRunStart(specifications: readonly Specification[]): void
}

/**
 * Makes Vitest's sequencer (its own, or the config's) keep the files `isMatrix` says are
 * matrix recipes in every shard; the others are sharded as before. Once per config: the
 * first call returns a hook to add to the reporters, later ones none.
 *
 * Vitest refuses `--shard=i/n` for a run of fewer than n files (a lone matrix recipe with
 * --shard=1/2) before its sequencer shards them, unless `passWithNoTests`. That count does not
 * apply to a run with a matrix recipe, which every shard runs: until its files are sharded,
 * `passWithNoTests` reads true for such a run. Vitest 4.1 checks after the run starts (the
 * hook: whether its files hold a matrix recipe); Vitest 5 before (`projectHasMatrix`: whether
 * the project's recipes do). Once sharded, the tests see the config's own value, and a run
 * without a matrix recipe is checked as Vitest checks it.
 */
export function keepMatricesInEveryShard(
  config: { sequence: { sequencer: unknown }; passWithNoTests?: boolean },
  isMatrix: (file: string) => boolean,
  projectHasMatrix = false,
): RunStartHook | undefined {
  const Base = config.sequence.sequencer as Sequencer & { [KEEPS_MATRICES]?: true }
  if (typeof Base !== 'function' || Base[KEEPS_MATRICES]) return undefined
  let own = config.passWithNoTests
  let sharding = projectHasMatrix
  let sharded = false
  Object.defineProperty(config, 'passWithNoTests', {
    configurable: true,
    enumerable: true,
    get: () => own || sharding,
    set: (value: boolean | undefined) => {
      own = value
    },
  })
  class MatrixShards extends Base {
    static override readonly [KEEPS_MATRICES] = true
    override async shard(files: Specification[]): Promise<Specification[]> {
      sharding = false
      sharded = true
      const matrices = files.filter((file) => isMatrix(file.moduleId))
      const others = files.filter((file) => !matrices.includes(file))
      return [...(others.length > 0 ? await super.shard(others) : []), ...matrices]
    }
  }
  config.sequence.sequencer = MatrixShards
  return {
    onTestRunStart(specifications) {
      // Vitest 5 starts the run after sharding it: the tests then keep the config's own value.
      if (!sharded) sharding = specifications.some((specification) => isMatrix(specification.moduleId))
    },
  }
}
