import type { JsonObject, JsonValue } from '../context/json-value.ts'
import type { SourceLocation } from './errors.ts'
import type { Combination, RecipeMatrix } from './matrix.ts'
import type { VarOrigin, VarValue } from './vars.ts'

/** How a child process's stdout becomes the step's envelope. */
export type OutputParse = 'json' | 'lines' | 'raw'

/** The step kinds; `typescript` in a recipe is read as `ts`. */
export type StepType = 'ts' | 'shell' | 'python' | 'exec'

/** A recipe's `test_meta` (a type, not an interface: it is stored as a JSON object). */
export type TestMeta = {
  test_id: string
  tester?: string
  description?: string
  tags: string[]
}

export interface SuccessChecks {
  ctx_has_keys?: string[]
  files_exist?: string[]
  ctx_equals?: JsonObject
  ctx_matches?: Record<string, JsonObject>
  outputs?: string[]
}

export type SuccessCheckName = keyof SuccessChecks

export interface ExpectSpec {
  status: 'ok' | 'error'
  reasonMatches?: string
  exitCode?: number
}

export interface RetrySpec {
  max: number
  delaySec: number
  on: string[]
}

/** Where the parts of a step sit in the YAML file, for errors and assertion messages. */
export interface StepLocations {
  step: SourceLocation
  module?: SourceLocation
  /** Where `cmd:` / `script:` is. */
  command?: SourceLocation
  export?: SourceLocation
  /** Which spelling named the export: `function` or `class`. */
  exportKey?: 'function' | 'class'
  expect?: SourceLocation
  /** Where `args:` / `params:` is, and each parameter's key. */
  params?: SourceLocation
  paramKeys?: Record<string, SourceLocation>
  checks: Partial<Record<SuccessCheckName, SourceLocation>>
}

/** A step after dialect normalization: one spelling for every field. */
export interface RecipeStep {
  /** Position in the file's `steps` list (0-based), for paths like `steps[2].module`. */
  index: number
  idx: number
  name: string
  description?: string
  type: StepType
  /** ts: path from the project root; python: dotted module path. */
  module?: string
  /** The export (ts) or class/function (python) to call; the default export when absent. */
  export?: string
  /** shell/exec: script path or argv. */
  command?: string | string[]
  params: JsonObject | JsonValue[]
  /** ctx key → envelope field (dotted path) whose value the step stores under that key. */
  save: Record<string, string>
  /** shell/exec: how stdout becomes the envelope. */
  parse: OutputParse
  /** `depends_on` as written; absent when the step declares none. */
  dependsOn?: string[]
  /** The steps this one directly needs: its `depends_on`, or the step before it in a recipe without any. */
  needs: string[]
  success: SuccessChecks
  expect: ExpectSpec
  timeoutSec?: number
  retry: RetrySpec
  /** Whether results are cached (`cache_key` or `cache`). */
  cache: boolean
  cacheKey?: string
  /** Files whose content is part of the cache key. */
  cacheInputs: string[]
  parallel: boolean
  requiresProcess: boolean
  /** Lab resources held while this step runs. */
  resources: string[]
  tags: string[]
  locations: StepLocations
}

export interface Recipe {
  /** The recipe's path relative to the project root, as shown in messages. */
  file: string
  testMeta: TestMeta
  /** Environment variables whose values are redacted (on top of the default name patterns). */
  secrets: string[]
  /** What two steps running at the same time writing one key means. */
  conflicts: 'fail' | 'last_write_wins'
  /** `step_metrics: true`: the runner records each step's figures in ctx `_runner.step_metrics_v1`. */
  stepMetrics: boolean
  /** Lab resources held from the run's first step to its end. */
  resources: string[]
  /** How long a step waits for a held resource (seconds); undefined: the plugin option's. */
  resourceWaitSec?: number
  /** How long a hold of a lab resource may last (seconds); undefined: the plugin option's. */
  resourceHoldMaxSec?: number
  /** Each var's value for this run (its `vars:`, given from outside or by default), in declaration order. */
  vars: Record<string, VarValue>
  /** Where each var's value came from: --var (cli), RECIPES_VAR_* (env), the plugin option or the default. */
  varsFrom: Record<string, VarOrigin>
  /** The recipe's `matrix:`: it runs once per combination. */
  matrix?: RecipeMatrix
  /** The matrix combination this compiled recipe is: the values it gives the recipe's vars. */
  combination?: Combination
  /** Steps in execution order. */
  steps: RecipeStep[]
}
