import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { checkEnvName, REFUSED_ENV_GROUPS } from '../../plugin/recipe/env-names.ts'
import { RecipeError } from '../../plugin/recipe/errors.ts'
import { parseRecipe } from '../../plugin/recipe/parse.ts'
import { REPO } from '../e2e/project.ts'

describe('checkEnvName', () => {
  test.each([
    ['BASH_ENV', 'BASH_ENV'],
    ['ENV', 'ENV'],
    ['PS4', 'PS4'],
    ['IFS', 'IFS'],
    ['BASH_FUNC_ls%%', 'BASH_FUNC_LS%%'],
    ['PATH', 'PATH'],
    ['path', 'PATH'],
    ['LD_PRELOAD', 'LD_PRELOAD'],
    ['LD_AUDIT', 'LD_AUDIT'],
    ['DYLD_INSERT_LIBRARIES', 'DYLD_INSERT_LIBRARIES'],
    ['NODE_OPTIONS', 'NODE_OPTIONS'],
    ['PYTHONSTARTUP', 'PYTHONSTARTUP'],
    ['PythonPath', 'PYTHONPATH'],
    ['PYTHONWARNINGS', 'PYTHONWARNINGS'],
    ['npm_config_script_shell', 'NPM_CONFIG_SCRIPT_SHELL'],
    ['PERL5OPT', 'PERL5OPT'],
    ['RUBYOPT', 'RUBYOPT'],
    ['GCONV_PATH', 'GCONV_PATH'],
    ['GLIBC_TUNABLES', 'GLIBC_TUNABLES'],
    ['MALLOC_TRACE', 'MALLOC_TRACE'],
    ['GIT_CONFIG_KEY_0', 'GIT_CONFIG_KEY_0'],
    ['GIT_SSH_COMMAND', 'GIT_SSH_COMMAND'],
    ['LUA_INIT_5_4', 'LUA_INIT_5_4'],
    ['JAVA_TOOL_OPTIONS', 'JAVA_TOOL_OPTIONS'],
    ['OPENSSL_CONF', 'OPENSSL_CONF'],
    ['HOME', 'HOME'],
  ])('%s is refused (as %s)', (name, variable) => {
    expect(checkEnvName(name)?.variable).toBe(variable)
  })

  test.each([
    'INPUT',
    'OUTPUT',
    'NODE_ENV',
    'LANG',
    'LC_ALL',
    'TZ',
    'GIT_BRANCH',
    'DUT_PATH',
    'MY_PYTHON',
    'ENVIRONMENT',
  ])('%s is an ordinary parameter', (name) => {
    expect(checkEnvName(name)).toBeUndefined()
  })

  test('a name holding "=" (another variable to the program), a NUL byte or nothing is refused', () => {
    expect(checkEnvName('X=1')?.why).toContain('cannot be empty or hold "="')
    expect(checkEnvName('PATH=/tmp/evil:')).toBeDefined()
    expect(checkEnvName('A\0B')).toBeDefined()
    expect(checkEnvName('')).toBeDefined()
  })
})

test('docs/security.md lists every refused name and prefix', () => {
  const page = readFileSync(join(REPO, 'docs/security.md'), 'utf8')
  const security = page.slice(page.indexOf('**Args never change how a program starts**'), page.indexOf('## Secrets'))
  const missing = REFUSED_ENV_GROUPS.flatMap((group) => [
    ...(group.names ?? []).filter((name) => !security.includes(`\`${name}\``)),
    ...(group.prefixes ?? []).filter((prefix) => !security.includes(`\`${prefix}*\``)),
  ])
  expect(missing).toEqual([])
})

describe('when a recipe compiles', () => {
  const recipe = (step: string) => `steps:\n  - ${step}\n`
  const codes = (text: string) => {
    try {
      parseRecipe(text, 'recipes/x.yaml')
      return []
    } catch (error) {
      if (!(error instanceof RecipeError)) throw error
      return error.issues.map((issue) => `${issue.code} ${issue.path}`)
    }
  }

  test('shell, exec and python script steps may not give a refused name, under args or params', () => {
    expect(codes(recipe('{ name: a, type: shell, cmd: a.sh, args: { PATH: /tmp } }'))).toEqual([
      'RECIPE_REFUSED_ENV_NAME steps[0].args.PATH',
    ])
    expect(codes(recipe('{ name: a, type: exec, cmd: [env], params: { LD_PRELOAD: /x.so } }'))).toEqual([
      'RECIPE_REFUSED_ENV_NAME steps[0].params.LD_PRELOAD',
    ])
    expect(codes(recipe('{ name: a, type: python, script: a.py, args: { PYTHONSTARTUP: /x.py } }'))).toEqual([
      'RECIPE_REFUSED_ENV_NAME steps[0].args.PYTHONSTARTUP',
    ])
  })

  test('steps whose args never become environment variables, and list args, are not checked', () => {
    // A python module gets its params as a dict, a ts scriptlet as an object; a list is an argv.
    expect(codes(recipe('{ name: a, type: python, module: m, function: run, args: { PATH: x } }'))).toEqual([])
    expect(codes(recipe('{ name: a, type: ts, module: m.ts, args: { PATH: x } }'))).toEqual([])
    expect(codes(recipe('{ name: a, type: exec, cmd: [env], args: [PATH=/tmp] }'))).toEqual([])
  })
})
