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

test('turns on task locations so reporters and `vitest list` get step lines', () => {
  expect(configure().includeTaskLocation).toBe(true)
})

test('invalid plugin options fail when the config loads, saying which and what is allowed', () => {
  expect(() => recipes({ keyNaming: 'strict' as never, stepTimeout: -1 })).toThrow(
    "vitest-recipes: invalid plugin options in your vitest config: keyNaming must be 'error', 'warn' or 'off', not \"strict\"; stepTimeout must be a number of seconds above 0, not -1",
  )
})

test('report and Allure options are checked the same way', () => {
  expect(() =>
    recipes({
      reports: { formats: ['pdf' as never], dir: '', office: 'yes' as never },
      allure: { resultsDir: 3 as never },
    }),
  ).toThrow(
    "vitest-recipes: invalid plugin options in your vitest config: reports.formats must list some of 'xlsx', 'docx', 'md', 'json', not [\"pdf\"]; reports.dir must be a folder path, not \"\"; reports.office must be true or false, not \"yes\"; allure.resultsDir must be a folder path, not 3",
  )
  expect(() => recipes({ reports: 'all' as never, allure: 'on' as never })).toThrow(
    'reports must be false or an object { dir, formats, office }; allure must be true, false or { resultsDir }',
  )
})
