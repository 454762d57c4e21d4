import { basename, dirname, relative, sep } from 'node:path'
import { Buffer } from 'node:buffer'
import type { RecipeIssue, SourceLocation } from '../recipe/errors.ts'
import { stepWorstCaseMs } from '../recipe/step-deadline.ts'
import type { RecipeStep, StepLocations } from '../recipe/types.ts'
import type { CompiledRecipe, DraftCheck } from '../runtime/spec.ts'
import { stepTestTags } from './recipe-tags.ts'
import { createLineSourceMap, type LineSourceMap, type Origin } from './source-map.ts'

export const RUNTIME_ID = 'vitest-recipes/runtime'

export interface GeneratedModule {
  code: string
  map: LineSourceMap
}

export interface CodegenInput {
  compiled: CompiledRecipe
  /** Absolute path of the recipe file. */
  file: string
  source: string
  /** Absolute path of each ts scriptlet module, by the recipe's `module` string. */
  modules: ReadonlyMap<string, string>
  /** Other files whose change re-runs the recipe in watch mode: scripts, python modules, cache inputs. */
  watched?: readonly string[]
  /** The tags Vitest defines, when it rejects others (strict tags); a step's test gets only these. */
  vitestTags?: ReadonlySet<string> | undefined
}

// Vitest's own timeout only backs up the runner's, which kills what a step started.
const VITEST_TIMEOUT_GRACE_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Emits the test module for a recipe: one literal top-level `test('<step>', ...)` per step,
 * each on its own line mapped to the step's YAML line, so locations, failure stacks and
 * the VS Code explorer point into the recipe.
 */
export function generateRecipeModule({
  compiled,
  file,
  source,
  modules,
  watched = [],
  vitestTags,
}: CodegenInput): GeneratedModule {
  const out = new ModuleLines()
  const top = { line: 1, column: 1 }
  const namespaces = out.imports('afterAll, test', 'defineRecipe', file, modules, watched)
  // The spec as base64 of its JSON: JSON text parses faster than the same object literal (in
  // Vite's transform and in V8), and Vite's SSR transform maps every word boundary of a module
  // (magic-string's hires: 'boundary'), so JSON's punctuation cost a map segment every few
  // characters, more than compiling the recipe itself; base64 is almost all word characters.
  const spec = Buffer.from(JSON.stringify(leanSpec(compiled))).toString('base64')
  out.emit(
    `const recipe = defineRecipe(JSON.parse(Buffer.from("${spec}", "base64").toString()), { ${namespaces.join(', ')} });`,
    top,
  )
  out.emit(`afterAll(() => recipe.finish());`, top)
  const timeouts = vitestTimeoutsMs(compiled)
  for (const step of compiled.recipe.steps)
    out.emit(stepTestCode(compiled, step, timeouts.get(step.name)!, vitestTags), step.locations.step)
  return out.module(file, source)
}

/** A generated module's lines, each with the YAML place it maps to (its source map). */
export class ModuleLines {
  private readonly lines: string[] = []
  private readonly origins: (Origin | undefined)[] = []

  emit(code: string, origin?: Origin): void {
    this.lines.push(code)
    this.origins.push(origin)
  }

  /**
   * The imports a recipe module starts with: `vitest` names, runtime names, each scriptlet
   * module as `__scriptlet<i>`, and each watched file as a URL import (its path, never its
   * content: the module graph then links the file to this recipe, and watch mode re-runs the
   * recipe when it changes, as it does for ts modules). The scriptlets' namespace entries.
   */
  imports(
    vitestNames: string,
    runtimeNames: string,
    file: string,
    modules: ReadonlyMap<string, string>,
    watched: readonly string[],
  ): string[] {
    const top = { line: 1, column: 1 }
    this.emit(`import { ${vitestNames} } from "vitest";`, top)
    this.emit(`import { ${runtimeNames} } from ${JSON.stringify(RUNTIME_ID)};`, top)
    this.emit(`import { Buffer } from "node:buffer";`, top)
    const namespaces: string[] = []
    ;[...modules].forEach(([module, absolute], i) => {
      this.emit(`import * as __scriptlet${i} from ${JSON.stringify(importSpecifier(file, absolute))};`, top)
      namespaces.push(`${JSON.stringify(module)}: __scriptlet${i}`)
    })
    for (const absolute of watched)
      this.emit(`import ${JSON.stringify(`${importSpecifier(file, absolute)}?url`)};`, top)
    return namespaces
  }

  /** The module's code and its map to the recipe `file` (whose text is `source`). */
  module(file: string, source: string): GeneratedModule {
    return { code: `${this.lines.join('\n')}\n`, map: createLineSourceMap(basename(file), source, this.origins) }
  }
}

/**
 * The test of one step: its options (timeout, concurrency, tags) and its call into the
 * runner. `inGroup`: inside a matrix combination's concurrent group, where a sequential step
 * must say so (a test takes its group's concurrency otherwise).
 */
export function stepTestCode(
  compiled: CompiledRecipe,
  step: RecipeStep,
  timeoutMs: number,
  vitestTags: ReadonlySet<string> | undefined,
  inGroup = false,
): string {
  // Retries run inside the step's test (the runner records each attempt), so Vitest retries nothing.
  const options = [`timeout: ${timeoutMs}`]
  // Neighbouring concurrent tests run together; the runner makes each wait for the steps it needs.
  if (step.parallel) options.push('concurrent: true')
  else if (inGroup) options.push('concurrent: false')
  // The recipe's and the step's tags are the test's Vitest tags (the plugin defines them: recipe-tags.ts).
  const tags = stepTestTags(compiled.recipe.testMeta.tags, step.tags).filter((tag) => vitestTags?.has(tag) ?? true)
  if (tags.length > 0) options.push(`tags: ${JSON.stringify(tags)}`)
  // The name is emitted raw between quotes: STEP_NAME_PATTERN guarantees it needs no escaping.
  // Awaited, so this line is in the async stack of what the step does: Vitest places the step's
  // annotations there (the YAML line), and the GitHub Actions reporter puts them at that line.
  return `test('${step.name}', { ${options.join(', ')} }, async (context) => { await recipe.runStep('${step.name}', context); });`
}

/** A recipe with problems whose steps can still be checked against their scriptlets (`CheckedRecipe.draft`). */
export interface FailingDraft {
  draft: DraftCheck
  /** Absolute path of each ts scriptlet module to load, by the recipe's `module` string. */
  modules: ReadonlyMap<string, string>
}

/**
 * The module for a recipe that cannot compile: importing it fails with the recipe's errors.
 * With a draft, it first loads the scriptlets the draft's steps use and adds what the checks
 * against them find (args, dataflow), so every problem of the file comes in one round.
 */
export function generateFailingModule(
  file: string,
  source: string,
  issues: readonly RecipeIssue[],
  failing?: FailingDraft,
): GeneratedModule {
  const call = failing
    ? `await failRecipeAfterChecks(${JSON.stringify(issues)}, ${JSON.stringify(failing.draft)}, { ${[...failing.modules]
        .map(
          ([module, absolute]) =>
            `${JSON.stringify(module)}: () => import(${JSON.stringify(importSpecifier(file, absolute))})`,
        )
        .join(', ')} });`
    : `failRecipe(${JSON.stringify(issues)});`
  const imported = failing ? 'failRecipeAfterChecks' : 'failRecipe'
  const code = `import { ${imported} } from ${JSON.stringify(RUNTIME_ID)};\n${call}\n`
  const origin = issues[0]?.location ?? { line: 1, column: 1 }
  return { code, map: createLineSourceMap(basename(file), source, [origin, origin]) }
}

/**
 * Each step's Vitest timeout, in ms. It only backs up the runner's own deadline, so it must
 * cover the step's deadline plus every step that may run first inside its test as setup
 * (steps it needs that -t filtered out). Those all come before it in plan order, so the sum
 * of every earlier step's worst case (a prefix sum, linear in the number of steps) is an
 * upper bound that needs no walk of the dependency graph.
 */
export function vitestTimeoutsMs(compiled: CompiledRecipe): Map<string, number> {
  const timeouts = new Map<string, number>()
  // Waits for lab resources come on top: the recipe's once (its first step), each step's own.
  const waitMs = Math.round((compiled.resourceWaitSec ?? 0) * 1000)
  let before = compiled.recipe.resources?.length ? waitMs : 0
  for (const step of compiled.recipe.steps) {
    const worst = stepWorstCaseMs(step, compiled.stepTimeoutSec) + (step.resources?.length ? waitMs : 0)
    const total = before + worst + VITEST_TIMEOUT_GRACE_MS
    // setTimeout fires at once past 2^31 - 1 ms (~24.8 days): longer budgets are capped there.
    timeouts.set(step.name, Math.min(total, MAX_TIMER_MS))
    before += worst
  }
  return timeouts
}

/**
 * The spec without what the runtime never reads: source lines are kept only where the
 * runtime may print a code frame (a missing module export). Keeps big recipes' modules small.
 */
export function leanSpec(compiled: CompiledRecipe): CompiledRecipe {
  const withoutLine = ({ sourceLine: _sourceLine, ...location }: SourceLocation): SourceLocation => location
  const steps = compiled.recipe.steps.map((step) => {
    const { step: stepLocation, checks, expect, ...rest } = step.locations
    const locations: StepLocations = {
      ...rest,
      step: withoutLine(stepLocation),
      checks: Object.fromEntries(Object.entries(checks).map(([name, location]) => [name, withoutLine(location)])),
    }
    if (expect) locations.expect = withoutLine(expect)
    return { ...step, locations }
  })
  return { ...compiled, recipe: { ...compiled.recipe, steps } }
}

export function importSpecifier(from: string, to: string): string {
  const rel = relative(dirname(from), to).split(sep).join('/')
  return rel.startsWith('.') ? rel : `./${rel}`
}
