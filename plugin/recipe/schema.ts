import { z } from 'zod'
import { VAR_NAME_PATTERN } from './vars.ts'

/**
 * The recipe file format as users write it, older dialects included (`function:` or
 * `class:`, `args:` or `params:`, `cmd:` or `script:`). `parse.ts` turns a value that
 * passes this schema into the normalized `Recipe` the rest of the plugin uses. The JSON
 * Schema in `schema/recipe.schema.json` is generated from this file.
 */

/** Step names become test names: they must need no escaping in generated code or in `-t`. */
export const STEP_NAME_PATTERN = /^[A-Za-z0-9_](?:[A-Za-z0-9_.:\- ]{0,118}[A-Za-z0-9_.])?$/

export const STEP_TYPES = ['ts', 'typescript', 'shell', 'python', 'exec'] as const

const jsonValue = z.json()
const stepName = z.string().regex(STEP_NAME_PATTERN, {
  message: 'step names use letters, digits, "_", "-", ".", ":" and inner spaces (at most 120 characters)',
})
const stringList = z.array(z.string().min(1))

const regexSource = z.string().refine(isValidRegex, { message: 'not a valid regular expression' })

export const successSchema = z
  .strictObject({
    ctx_has_keys: stringList.optional().describe('Keys the context must hold after the step.'),
    files_exist: stringList.optional().describe('Files (relative to the project root) that must exist after the step.'),
    ctx_equals: z
      .record(z.string(), jsonValue)
      .optional()
      .describe('Keys whose values must deep-equal the given JSON.'),
    ctx_matches: z
      .record(z.string(), z.record(z.string(), jsonValue))
      .optional()
      .describe('Keys whose values must match the given JSON Schema.'),
    outputs: stringList.optional().describe("Keys the step's envelope must list in `outputs`."),
  })
  .describe('Checks that turn into assertions after the step ran.')

export const expectSchema = z
  .union([
    z.enum(['ok', 'error']),
    z.strictObject({
      status: z.enum(['ok', 'error']),
      reason_matches: regexSource.optional().describe('Regular expression the error reason must match.'),
      exit_code: z.int().optional().describe('Exit code the error envelope must carry.'),
    }),
  ])
  .describe('`error` for negative-path steps: the test passes only when the step fails as specified.')

export const retrySchema = z.union([
  z.int().min(0),
  z.strictObject({
    max: z.int().min(0).describe('Extra attempts after the first.'),
    delay_sec: z.number().min(0).optional(),
    on: z.array(regexSource).optional().describe('Retry only when the failure reason matches one of these.'),
  }),
])

/** A lab resource: `kind:name` (dut:rack3-sw1, traffic-gen:ixia-2). */
export const RESOURCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*:[A-Za-z0-9][A-Za-z0-9_.:/@-]*$/

const resourcesSchema = z
  .array(z.string().regex(RESOURCE_PATTERN, { message: 'a resource is kind:name, for example dut:rack3-sw1' }))
  .optional()

export const stepSchema = z
  .strictObject({
    idx: z.int().optional().describe('Order of the step; steps run by idx unless depends_on says otherwise.'),
    name: stepName.describe('Unique step name; it is also the test name.'),
    description: z.string().optional(),
    type: z.enum(STEP_TYPES).describe('How the step runs: ts (alias typescript), shell, python or exec.'),
    module: z.string().min(1).optional().describe('ts: path from the project root; python: dotted module path.'),
    class: z.string().min(1).optional().describe('Export (ts) or class (python) to run; older alias of function.'),
    function: z.string().min(1).optional().describe('Export (ts) or function/class (python) to run.'),
    cmd: z
      .union([z.string().min(1), z.array(z.union([z.string(), z.number()]))])
      .optional()
      .describe('Script path or argv list (numbers are passed as written).'),
    script: z.string().min(1).optional().describe('Script path (older alias of cmd).'),
    args: z
      .union([z.record(z.string(), jsonValue), z.array(jsonValue)])
      .optional()
      .describe('Parameters of the scriptlet.'),
    params: z
      .union([z.record(z.string(), jsonValue), z.array(jsonValue)])
      .optional()
      .describe('Older alias of args.'),
    depends_on: z
      .union([stepName, z.array(stepName)])
      .optional()
      .describe('Steps that must succeed first.'),
    success: successSchema.optional(),
    expect: expectSchema.optional(),
    timeout: z.number().positive().optional().describe('Seconds before the step fails.'),
    retry: retrySchema.optional(),
    save: z
      .record(z.string(), z.string().min(1))
      .optional()
      .describe('shell/exec/python: ctx key → envelope field to store there, e.g. {numbers.clean_path_v1: output}.'),
    parse: z
      .enum(['json', 'lines', 'raw'])
      .optional()
      .describe(
        'shell/exec: how stdout becomes the envelope: one JSON line (default), its lines (field "lines") or its text (field "output").',
      ),
    cache_key: z.string().optional().describe('Turns caching on; the text is part of the cache key.'),
    cache: z
      .union([
        z.boolean(),
        z.strictObject({
          inputs: z.array(z.string().min(1)).describe('Files whose content is part of the cache key.'),
        }),
      ])
      .optional()
      .describe(
        'Replay the recorded ctx writes when the scriptlet, its args, its input files and the ctx it starts from are unchanged.',
      ),
    parallel: z
      .boolean()
      .optional()
      .describe('May run side by side with neighbouring parallel steps once its dependencies are done.'),
    requires_process: z.boolean().optional(),
    resources: resourcesSchema.describe(
      'Lab resources this step holds while it runs (kind:name, e.g. dut:rack3-sw1); other runs that need one wait.',
    ),
    tags: z
      .array(z.string())
      .optional()
      .describe(
        "Labels of this step: Vitest tags of its test (with the recipe's test_meta.tags), so vitest --tags-filter selects steps by them.",
      ),
  })
  .describe('One step of a recipe: a scriptlet call with its parameters and checks.')

/**
 * The keys the older Python framework's test_meta had (test_id, tester, description) and
 * tags. Closed, like every other mapping of a recipe: a typo (`testid:`) would otherwise
 * silently give the run the file name as its test_id.
 */
export const testMetaSchema = z
  .strictObject({
    test_id: z
      .union([z.string(), z.number()])
      .optional()
      .describe('The id runs are recorded and compared under (default: the file name without .yaml).'),
    tester: z.string().optional().describe('Who runs or owns the test.'),
    description: z.string().optional(),
    tags: z
      .array(z.string())
      .optional()
      .describe(
        "Labels to filter runs by (dashboard, recipes history); also the Vitest tags of every step's test (vitest --tags-filter, --list-tags).",
      ),
  })
  .describe('Who and what this recipe tests.')

const varValue = z.union([z.string(), z.number(), z.boolean()])

/** One var: its default (`dut: rack1-sw1`), or a mapping with its default, type and description. */
export const variableSchema = z
  .union([
    varValue,
    z.strictObject({
      default: varValue
        .optional()
        .describe('The value when none is given from outside; without one, a value must be given.'),
      type: z
        .enum(['string', 'number', 'boolean'])
        .optional()
        .describe(
          'What the value is (default: the type of the default, else string); values from outside must read as it.',
        ),
      description: z.string().optional().describe('What the var is for, for readers of the recipe.'),
    }),
  ])
  .describe('A default value, or {default, type, description}.')

export const varsSchema = z
  .record(
    z.string().regex(VAR_NAME_PATTERN, { message: 'a var name is letters, digits and "_", not starting with a digit' }),
    variableSchema,
  )
  .describe(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a var reference as recipes write it
    'Values the recipe takes from outside, used as "${{ vars.NAME }}" in test_meta, resources and a step\'s args, resources, cmd arguments, cache inputs, cache_key and description. Given, first to last: recipes run --var NAME=value, the environment variable RECIPES_VAR_<NAME upper-cased>, the plugin option vars, the default.',
  )

export const recipeSchema = z
  .strictObject({
    test_meta: testMetaSchema.optional(),
    vars: varsSchema.optional(),
    matrix: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        "Runs the recipe once per combination of these vars' values, each its own run: NAME: [values] per var (several vars: every combination), include: and exclude: lists of objects of var values as in CI matrices.",
      ),
    matrix_parallel: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'How many matrix combinations run side by side (default 4); combinations that need the same resource still take turns.',
      ),
    parallel: z
      .boolean()
      .optional()
      .describe('Every step may run in parallel with its neighbours once its dependencies are done.'),
    conflicts: z
      .enum(['fail', 'last_write_wins'])
      .optional()
      .describe(
        'Two steps running at the same time writing the same key: an error naming both (fail, the default), or the later write stands.',
      ),
    step_metrics: z
      .boolean()
      .optional()
      .describe(
        "After each step that ran, record its figures (status, duration_ms, cpu_ms, peak_rss_mb, attempts) in ctx _runner.step_metrics_v1 under the step's name, written by _runner (the older runner_v2's key).",
      ),
    secrets: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'an environment variable name' }))
      .optional()
      .describe(
        'Environment variables whose values are replaced by *** in logs, reports and errors (besides *_TOKEN, *_PASSWORD, *_SECRET, *_KEY).',
      ),
    resources: resourcesSchema.describe(
      'Lab resources the whole run holds, from its first step to its end (kind:name, e.g. dut:rack3-sw1); other runs that need one wait.',
    ),
    resource_wait: z
      .number()
      .positive()
      .optional()
      .describe(
        'How many seconds a step waits for a held resource before it fails (default: the plugin option resources.waitSec).',
      ),
    resource_hold_max: z
      .number()
      .positive()
      .optional()
      .describe(
        'How many seconds a hold of a lab resource may last: past it the step using it is stopped and fails, so a hung step cannot keep a DUT all night (default: the plugin option resources.holdMaxSec; none).',
      ),
    steps: z.array(stepSchema).min(1, { message: 'a recipe needs at least one step' }),
  })
  .describe('A vitest-recipes recipe: test metadata and the ordered steps to run.')

export type RecipeInput = z.input<typeof recipeSchema>
export type StepInput = z.output<typeof stepSchema>

/** Keys allowed on each object of the schema, for did-you-mean suggestions. */
export const KNOWN_KEYS = {
  recipe: Object.keys(recipeSchema.shape),
  testMeta: Object.keys(testMetaSchema.shape),
  step: Object.keys(stepSchema.shape),
  success: Object.keys(successSchema.shape),
  variable: ['default', 'type', 'description'],
} as const

function isValidRegex(source: string): boolean {
  try {
    new RegExp(source)
    return true
  } catch {
    return false
  }
}
