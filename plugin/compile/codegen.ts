import { basename, dirname, relative, sep } from 'node:path'
import type { RecipeIssue, SourceLocation } from '../recipe/errors.ts'
import type { StepLocations } from '../recipe/types.ts'
import type { CompiledRecipe } from '../runtime/spec.ts'
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
}

// Vitest's own timeout only backs up the runner's, which kills what a step started.
const VITEST_TIMEOUT_GRACE_MS = 10_000

/**
 * Emits the test module for a recipe: one literal top-level `test('<step>', ...)` per step,
 * each on its own line mapped to the step's YAML line, so locations, failure stacks and
 * the VS Code explorer point into the recipe.
 */
export function generateRecipeModule({ compiled, file, source, modules }: CodegenInput): GeneratedModule {
  const lines: string[] = []
  const origins: (Origin | undefined)[] = []
  const emit = (code: string, origin?: Origin) => {
    lines.push(code)
    origins.push(origin)
  }
  const top = { line: 1, column: 1 }
  emit(`import { afterAll, test } from "vitest";`, top)
  emit(`import { defineRecipe } from ${JSON.stringify(RUNTIME_ID)};`, top)
  const namespaces: string[] = []
  ;[...modules].forEach(([module, absolute], i) => {
    emit(`import * as __scriptlet${i} from ${JSON.stringify(importSpecifier(file, absolute))};`, top)
    namespaces.push(`${JSON.stringify(module)}: __scriptlet${i}`)
  })
  // A JSON string parses faster than the same object literal, in Vite's transform and in V8.
  emit(
    `const recipe = defineRecipe(JSON.parse(${JSON.stringify(JSON.stringify(leanSpec(compiled)))}), { ${namespaces.join(', ')} });`,
    top,
  )
  emit(`afterAll(() => recipe.finish());`, top)
  const budgets = stepBudgets(compiled)
  for (const step of compiled.recipe.steps) {
    const options = [`timeout: ${budgets.get(step.name)! + VITEST_TIMEOUT_GRACE_MS}`]
    // Neighbouring concurrent tests run together; the runner makes each wait for the steps it needs.
    if (step.parallel) options.push('concurrent: true')
    // The name is emitted raw between quotes: STEP_NAME_PATTERN guarantees it needs no escaping.
    emit(
      `test('${step.name}', { ${options.join(', ')} }, (context) => recipe.runStep('${step.name}', context));`,
      step.locations.step,
    )
  }
  return { code: `${lines.join('\n')}\n`, map: createLineSourceMap(basename(file), source, origins) }
}

/** The module for a recipe that cannot compile: importing it fails with the recipe's errors. */
export function generateFailingModule(file: string, source: string, issues: readonly RecipeIssue[]): GeneratedModule {
  const code = `import { failRecipe } from ${JSON.stringify(RUNTIME_ID)};\nfailRecipe(${JSON.stringify(issues)});\n`
  const origin = issues[0]?.location ?? { line: 1, column: 1 }
  return { code, map: createLineSourceMap(basename(file), source, [origin, origin]) }
}

/**
 * The longest a step's test may take, in ms: its own timeout plus those of every step it
 * needs, since needed steps filtered out by -t run inside its test as setup.
 */
function stepBudgets(compiled: CompiledRecipe): Map<string, number> {
  const budgets = new Map<string, number>()
  const byName = new Map(compiled.recipe.steps.map((step) => [step.name, step]))
  const own = (name: string) => {
    const step = byName.get(name)!
    return (step.timeoutSec ?? compiled.stepTimeoutSec) * 1000 * (step.retry.max + 1)
  }
  for (const step of compiled.recipe.steps) {
    const needed = new Set<string>()
    const visit = (name: string): void => {
      for (const need of byName.get(name)!.needs) {
        if (needed.has(need)) continue
        needed.add(need)
        visit(need)
      }
    }
    visit(step.name)
    budgets.set(
      step.name,
      Math.round(
        (step.timeoutSec ?? compiled.stepTimeoutSec) * 1000 + [...needed].reduce((sum, name) => sum + own(name), 0),
      ),
    )
  }
  return budgets
}

/**
 * The spec without what the runtime never reads: source lines are kept only where the
 * runtime may print a code frame (a missing module export). Keeps big recipes' modules small.
 */
function leanSpec(compiled: CompiledRecipe): CompiledRecipe {
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

function importSpecifier(from: string, to: string): string {
  const rel = relative(dirname(from), to).split(sep).join('/')
  return rel.startsWith('.') ? rel : `./${rel}`
}
