import { configDefaults } from 'vitest/config'
import { expect, test } from 'vitest'
import { recipes } from '../../plugin/compile/vite-plugin.ts'

type ConfigHook = (config: { test?: { include?: string[]; includeTaskLocation?: boolean } }) => void

function configure(test?: { include?: string[] }, options?: Parameters<typeof recipes>[0]) {
  const config = { test: test ? { ...test } : undefined } as Parameters<ConfigHook>[0]
  ;(recipes(options).config as unknown as ConfigHook)(config)
  return config.test!
}

test('adds the recipe glob to the default include, keeping the defaults', () => {
  expect(configure().include).toEqual([...configDefaults.include, 'recipes/**/*.{yaml,yml}'])
})

test("keeps the user's own include and adds custom recipe globs", () => {
  expect(configure({ include: ['tests/**/*.test.ts'] }, { include: ['procedures/**/*.yaml'] }).include).toEqual([
    'tests/**/*.test.ts',
    'procedures/**/*.yaml',
  ])
})

test('ctxServer: loopback and any free port by default, false turns it off, a bad host or port fails the config', async () => {
  const { compileRecipe } = await import('../../plugin/compile/vite-plugin.ts')
  const specOf = (options: Parameters<typeof recipes>[0]) => {
    const root = process.cwd()
    const recipe = 'steps:\n  - name: a\n    type: ts\n    module: scriptlets/steps/load_numbers.ts\n'
    const { code } = compileRecipe(recipe, `${root}/recipes/t.yaml`, root, options)
    const base64 = /Buffer\.from\("([^"]+)", "base64"\)/.exec(code)?.[1]
    return base64 === undefined ? undefined : JSON.parse(Buffer.from(base64, 'base64').toString()).ctxServer
  }
  expect(specOf({})).toEqual({ host: '127.0.0.1', port: 0 })
  expect(specOf({ ctxServer: false })).toBe(false)
  expect(specOf({ ctxServer: { host: '0.0.0.0', port: 8700 } })).toEqual({ host: '0.0.0.0', port: 8700 })
  expect(() => recipes({ ctxServer: { port: 70000 } })).toThrow(
    'ctxServer.port must be a port number (0: any free port), not 70000',
  )
  expect(() => recipes({ ctxServer: { host: '' } })).toThrow('ctxServer.host must be a host name or address, not ""')
})

test('the project-wide secrets option reaches every compiled recipe, patterns included; a bad entry fails at config load', async () => {
  const { compileRecipe } = await import('../../plugin/compile/vite-plugin.ts')
  const root = process.cwd()
  const recipe = 'steps:\n  - name: a\n    type: ts\n    module: scriptlets/steps/load_numbers.ts\n'
  const { code } = compileRecipe(recipe, `${root}/recipes/t.yaml`, root, {
    secrets: ['SWITCH_ENABLE', /^LAB_.*_PASS$/],
  })
  const base64 = /Buffer\.from\("([^"]+)", "base64"\)/.exec(code)![1]!
  expect(JSON.parse(Buffer.from(base64, 'base64').toString()).secrets).toEqual(['SWITCH_ENABLE', '/^LAB_.*_PASS$/'])
  expect(() => recipes({ secrets: ['SWITCH-ENABLE', /^X_/] })).toThrow(
    'secrets must be a list of environment variable names or RegExps of names ([\'SWITCH_ENABLE\', /^LAB_.*_PASS$/]), not ["SWITCH-ENABLE","/^X_/"]',
  )
})

test('turns on task locations so reporters and `vitest list` get step lines', () => {
  expect(configure().includeTaskLocation).toBe(true)
})

test('invalid plugin options fail when the config loads, saying which and what is allowed', () => {
  expect(() => recipes({ keyNaming: 'strict' as never, stepTimeout: -1 })).toThrow(
    "vitest-recipes: invalid plugin options in your vitest config: keyNaming must be 'error', 'warn' or 'off', not \"strict\"; stepTimeout must be a number of seconds above 0, not -1",
  )
})

test('analysis options are checked the same way, the AI key only by the name of its variable', () => {
  expect(() =>
    recipes({
      analysis: { minRuns: 2, ai: { endpoint: 'http://127.0.0.1:8080/v1', model: 'm', apiKeyEnv: 'sk-abc def' } },
    }),
  ).toThrow(
    'vitest-recipes: invalid plugin options in your vitest config: analysis.minRuns must be 5 or more (fewer runs say too little to call a value an anomaly), not 2; analysis.ai.apiKeyEnv must be the name of an environment variable, like LAB_AI_KEY (the key itself never goes in the config)',
  )
  expect(() => recipes({ analysis: { ai: { endpoint: 'http://127.0.0.1:8080/v1', model: 'm' } } })).not.toThrow()
})

test('report and Allure options are checked the same way', () => {
  expect(() =>
    recipes({
      reports: { formats: ['pdf' as never], dir: '', office: 'yes' as never },
      allure: { resultsDir: 3 as never },
    }),
  ).toThrow(
    "vitest-recipes: invalid plugin options in your vitest config: reports.formats must list some of 'xlsx', 'docx', 'md', 'html', 'json', not [\"pdf\"]; reports.dir must be a folder path, not \"\"; reports.office must be true or false, not \"yes\"; allure.resultsDir must be a folder path, not 3",
  )
  expect(() => recipes({ reports: 'all' as never, allure: 'on' as never })).toThrow(
    'reports must be false or an object { dir, formats, office }; allure must be true, false or { resultsDir }',
  )
  // Allure results are not a document: the message points at the option that writes them.
  expect(() => recipes({ reports: { formats: ['md', 'allure' as never] } })).toThrow(
    "reports.formats: 'allure' is not a document format; Allure results are turned on by the plugin option allure: true (or { resultsDir })",
  )
})

test('the vars option gives recipes values under the environment and --var; a bad entry fails at config load', async () => {
  const { compileRecipe } = await import('../../plugin/compile/vite-plugin.ts')
  const root = process.cwd()
  const recipe =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
    'vars: { dut: rack1-sw1, ports: 48 }\nsteps:\n  - name: a\n    type: ts\n    module: scriptlets/steps/load_numbers.ts\n    args: { dut: "${{ vars.dut }}", ports: "${{ vars.ports }}" }\n'
  const varsOf = (env: Record<string, string | undefined>) => {
    const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]))
    Object.assign(process.env, env)
    try {
      const { code } = compileRecipe(recipe, `${root}/recipes/t.yaml`, root, {
        vars: { dut: 'rack1-sw2', ports: '24' },
      })
      const base64 = /Buffer\.from\("([^"]+)", "base64"\)/.exec(code)![1]!
      const { recipe: compiled } = JSON.parse(Buffer.from(base64, 'base64').toString())
      return [compiled.vars, compiled.varsFrom, compiled.steps[0].params]
    } finally {
      for (const [name, value] of Object.entries(saved))
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
    }
  }
  expect(varsOf({})).toEqual([
    { dut: 'rack1-sw2', ports: 24 },
    { dut: 'option', ports: 'option' },
    { dut: 'rack1-sw2', ports: 24 },
  ])
  expect(varsOf({ RECIPES_VAR_DUT: 'rack1-sw3', RECIPES_CLI_VARS: JSON.stringify({ ports: '12' }) })).toEqual([
    { dut: 'rack1-sw3', ports: 12 },
    { dut: 'env', ports: 'cli' },
    { dut: 'rack1-sw3', ports: 12 },
  ])
  expect(() => recipes({ vars: { 'bad-name': 'x', dut: { a: 1 } as never } })).toThrow(
    'invalid plugin options in your vitest config: vars: "bad-name" is not a var name (letters, digits and "_", not starting with a digit); vars.dut must be a string, a number or a boolean, not {"a":1}',
  )
})

test("an arg the older framework's YAML read as a boolean is a compile warning at its place; the recipe still compiles", async () => {
  const { compileRecipe } = await import('../../plugin/compile/vite-plugin.ts')
  const root = process.cwd()
  const recipe =
    "steps:\n  - name: probe\n    type: exec\n    cmd: [echo, '{}']\n    args: { verbose: no, label: 'no' }\n"
  const compiled = compileRecipe(recipe, `${root}/recipes/t.yaml`, root)
  expect(compiled.code).not.toContain('failRecipe(')
  expect(compiled.warnings).toEqual([
    'recipes/t.yaml:5:22 RECIPE_YAML_BOOLEAN warning: args.verbose of step "probe" is the text "no"; the older framework (PyYAML) read it as false. Write false, or "no" in quotes, to say which.',
  ])
})
