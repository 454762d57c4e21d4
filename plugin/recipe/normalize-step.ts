import type { JsonObject } from '../context/json-value.ts'
import { checkEnvName, describeEnvNameRefusal, envNameAdvice } from './env-names.ts'
import type { IssueCollector } from './issue-collector.ts'
import type { StepInput } from './schema.ts'
import type { RecipePath } from './source.ts'
import type { ExpectSpec, RecipeStep, RetrySpec, StepLocations, StepType, SuccessCheckName } from './types.ts'

/**
 * A step as the schema read it, normalized into the RecipeStep the rest of the code uses:
 * aliases resolved (args/params, cmd/script, function/class), defaults filled, dependencies,
 * retry and expect in one shape, its locations in the file; problems go to `issues`.
 */
/** `refused`: fields the schema refused (reported already), so no other problem is claimed about them. */
export function normalizeStep(
  input: StepInput,
  i: number,
  issues: IssueCollector,
  recipeParallel: boolean,
  refused: ReadonlySet<string>,
): RecipeStep {
  const at = (...rest: RecipePath) => ['steps', i, ...rest]
  const pick = <K extends keyof StepInput>(a: K, b: K) => {
    if (input[a] !== undefined && input[b] !== undefined) {
      issues.add('RECIPE_SCHEMA', `"${String(a)}" and "${String(b)}" mean the same thing; give only one`, at(b), {
        key: true,
        hint: `Remove "${String(b)}" or "${String(a)}".`,
      })
    }
    return { value: input[a] ?? input[b], key: input[a] !== undefined ? a : b }
  }
  const exportName = pick('function', 'class')
  const command = pick('cmd', 'script')
  const params = pick('args', 'params')
  const type: StepType = input.type === 'typescript' ? 'ts' : input.type

  const given = (field: string) => refused.has(field)
  if (type === 'ts' && input.module === undefined && !given('module')) {
    issues.add('RECIPE_SCHEMA', 'a ts step needs "module": the scriptlet file, relative to the project root', at(), {
      hint: 'Add for example `module: scriptlets/steps/compute_mean.ts`.',
    })
  }
  if (
    type === 'python' &&
    input.module === undefined &&
    command.value === undefined &&
    !['module', 'cmd', 'script'].some(given)
  ) {
    issues.add('RECIPE_SCHEMA', 'a python step needs "module" (with "class" or "function") or "script"', at(), {
      hint: 'Add for example `module: scriptlets.python.steps.compute_numbers` and `class: ComputeNumbers`.',
    })
  }
  if ((type === 'shell' || type === 'exec') && command.value === undefined && !given('cmd') && !given('script')) {
    issues.add('RECIPE_SCHEMA', `a ${type} step needs "cmd" (or "script"): the script path or argv list`, at(), {
      hint:
        type === 'shell'
          ? 'Add for example `cmd: scriptlets/shell/sanitize_csv.sh`.'
          : 'Add for example `cmd: [awk, -f, scriptlets/awk/sum.awk]`.',
    })
  }

  if (
    input.parse !== undefined &&
    type !== 'shell' &&
    type !== 'exec' &&
    !(type === 'python' && command.value !== undefined)
  ) {
    issues.add(
      'RECIPE_SCHEMA',
      `"parse" applies to shell, exec and python script steps, not to ${type} modules`,
      at('parse'),
      {
        key: true,
        hint: 'Remove "parse": this step returns its envelope directly.',
      },
    )
  }
  if ((type === 'shell' || type === 'exec') && Array.isArray(command.value) && command.value.length === 0) {
    issues.add('RECIPE_SCHEMA', 'the argv list is empty', at(command.key))
  }

  const checks: StepLocations['checks'] = {}
  for (const name of Object.keys(input.success ?? {}) as SuccessCheckName[]) {
    checks[name] = issues.locate(at('success', name), { key: true })
  }
  const locations: StepLocations = { step: issues.locate(at(), {}), checks }
  if (input.module !== undefined) locations.module = issues.locate(at('module'))
  if (command.value !== undefined) locations.command = issues.locate(at(command.key))
  if (exportName.value !== undefined) {
    locations.export = issues.locate(at(exportName.key))
    locations.exportKey = exportName.key
  }
  if (input.expect !== undefined) locations.expect = issues.locate(at('expect'))
  if (params.value !== undefined) {
    locations.params = issues.locate(at(params.key), { key: true })
    if (typeof params.value === 'object' && params.value !== null && !Array.isArray(params.value)) {
      locations.paramKeys = {}
      for (const name of Object.keys(params.value))
        locations.paramKeys[name] = issues.locate(at(params.key, name), { key: true })
    }
  }

  const step: RecipeStep = {
    index: i,
    idx: input.idx ?? i + 1,
    name: input.name,
    type,
    params: (params.value ?? {}) as JsonObject,
    save: input.save ?? {},
    parse: input.parse ?? 'json',
    needs: [],
    success: (input.success ?? {}) as RecipeStep['success'],
    expect: normalizeExpect(input.expect),
    retry: normalizeRetry(input.retry),
    parallel: input.parallel ?? recipeParallel,
    cache: input.cache_key !== undefined || (input.cache !== undefined && input.cache !== false),
    cacheInputs: typeof input.cache === 'object' ? input.cache.inputs : [],
    requiresProcess: input.requires_process ?? false,
    resources: input.resources ?? [],
    tags: input.tags ?? [],
    locations,
  }
  if (input.description !== undefined) step.description = input.description
  if (input.module !== undefined) step.module = input.module
  if (exportName.value !== undefined) step.export = exportName.value
  if (command.value !== undefined) step.command = argvText(command.value, at(command.key), issues)
  if (input.depends_on !== undefined)
    step.dependsOn = typeof input.depends_on === 'string' ? [input.depends_on] : input.depends_on
  if (input.timeout !== undefined) step.timeoutSec = input.timeout
  if (input.cache_key !== undefined) step.cacheKey = input.cache_key
  return step
}

/**
 * A program step's mapping args become its environment variables (executors/command.ts):
 * names that change how its program starts or finds code are refused (env-names.ts).
 */
export function checkEnvParams(step: RecipeStep, paramsKey: 'args' | 'params', issues: IssueCollector): void {
  const asEnvironment =
    step.type === 'shell' || step.type === 'exec' || (step.type === 'python' && step.command !== undefined)
  if (!asEnvironment || Array.isArray(step.params)) return
  for (const name of Object.keys(step.params)) {
    const refusal = checkEnvName(name)
    if (!refusal) continue
    issues.add(
      'RECIPE_REFUSED_ENV_NAME',
      `step "${step.name}" gives ${describeEnvNameRefusal(name, refusal)}`,
      ['steps', step.index, paramsKey, name],
      { key: true, hint: envNameAdvice(name) },
    )
  }
}

/** Numbers in an argv list (`[ping, -c, 1]`) are arguments like any other: keep the text the file has. */
function argvText(command: string | (string | number)[], path: RecipePath, issues: IssueCollector): string | string[] {
  if (!Array.isArray(command)) return command
  return command.map((item, j) => (typeof item === 'string' ? item : (issues.sourceText([...path, j]) ?? String(item))))
}

function normalizeExpect(input: StepInput['expect']): ExpectSpec {
  if (input === undefined || input === 'ok') return { status: 'ok' }
  if (input === 'error') return { status: 'error' }
  const spec: ExpectSpec = { status: input.status }
  if (input.reason_matches !== undefined) spec.reasonMatches = input.reason_matches
  if (input.exit_code !== undefined) spec.exitCode = input.exit_code
  return spec
}

function normalizeRetry(input: StepInput['retry']): RetrySpec {
  if (input === undefined) return { max: 0, delaySec: 0, on: [] }
  if (typeof input === 'number') return { max: input, delaySec: 0, on: [] }
  return { max: input.max, delaySec: input.delay_sec ?? 0, on: input.on ?? [] }
}
