import { spawn } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** This repository: the package under test (its dist/ must be built, as `npm test` does). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const VITEST_BIN = join(REPO, 'node_modules/vitest/vitest.mjs')
const RECIPES_BIN = join(REPO, 'bin/recipes.js')

/** The config a user starts from: every default, Office documents and their charts included. */
export const DEFAULT_CONFIG = `import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

export default defineConfig({ plugins: [recipes()] })
`
/**
 * What a project gets when its test gives no config: the defaults, but only report.md. The
 * Office documents and their charts (about a second of every run here) are what the report
 * tests look at, and they ask for them with DEFAULT_CONFIG.
 */
const MARKDOWN_CONFIG = DEFAULT_CONFIG.replace('recipes()', "recipes({ reports: { formats: ['md'] } })")

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
  /** stdout + stderr without colors, for matching messages. */
  output: string
}

export interface TestProject {
  root: string
  write(path: string, content: string): void
  read(path: string): string
  /** Runs the real `vitest` CLI in the project. */
  vitest(args: string[], options?: { env?: NodeJS.ProcessEnv }): Promise<RunResult>
  /** Runs `vitest run --reporter=json` and returns the parsed report too. */
  vitestJson(args: string[], options?: { env?: NodeJS.ProcessEnv }): Promise<RunResult & { report: JsonReport }>
  /** Copies a file of tests/fixtures into the project, keeping its mode (the executable bit). */
  copyFixture(fixture: string, path: string): void
  /** Runs the real `recipes` CLI in the project. */
  recipes(args: string[], options?: { env?: NodeJS.ProcessEnv }): Promise<RunResult>
  remove(): void
}

export interface JsonReport {
  numFailedTests: number
  numPassedTests: number
  numPendingTests: number
  testResults: {
    name: string
    status: string
    message: string
    assertionResults: {
      title: string
      status: string
      failureMessages: string[]
      meta?: Record<string, any>
      annotations?: { message: string }[]
    }[]
  }[]
}

/**
 * Writes a small project into a temp dir: its own files, plus a node_modules that links
 * this repository as `vitest-recipes` and its dependencies, as an install would.
 */
export function createProject(files: Record<string, string>, options: { config?: string } = {}): TestProject {
  const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-e2e-'))
  const modules = join(root, 'node_modules')
  mkdirSync(modules)
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (!entry.startsWith('.')) symlinkSync(join(REPO, 'node_modules', entry), join(modules, entry))
  }
  symlinkSync(REPO, join(modules, 'vitest-recipes'))
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  write('package.json', JSON.stringify({ name: 'lab-project', private: true, type: 'module' }))
  write('vitest.config.ts', options.config ?? MARKDOWN_CONFIG)
  for (const [path, content] of Object.entries(files)) write(path, content)

  const project: TestProject = {
    root,
    write,
    read: (path) => readFileSync(join(root, path), 'utf8'),
    vitest: (args, runOptions) => runCommand(process.execPath, [VITEST_BIN, ...args], root, runOptions?.env),
    async vitestJson(args, options) {
      const outputFile = join(root, `.report-${Date.now()}.json`)
      const result = await project.vitest(
        ['run', ...args, '--reporter=json', `--outputFile=${outputFile}`, '--reporter=default'],
        options,
      )
      const report = JSON.parse(readFileSync(outputFile, 'utf8')) as JsonReport
      rmSync(outputFile)
      return { ...result, report }
    },
    copyFixture(fixture, path) {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      copyFileSync(join(REPO, 'tests/fixtures', fixture), join(root, path))
    },
    recipes: (args, options) => runCommand(process.execPath, [RECIPES_BIN, ...args], root, options?.env),
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
  return project
}

/**
 * The environment of a command a test starts: this one's with `extra`, colours off, and the
 * variables of the Vitest running the test cleared (the command must not think it is inside it).
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...extra,
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    VITEST: undefined,
    VITEST_MODE: undefined,
    VITEST_POOL_ID: undefined,
    VITEST_WORKER_ID: undefined,
    NODE_OPTIONS: undefined,
    TEST: undefined,
  }
}

/** Runs a command with the test environment's variables cleared, collecting its output. */
export function runCommand(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: childEnv({ ...env, CI: 'true' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, output: stripAnsi(stdout + stderr) }))
  })
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
}

/** A tiny scriptlet module for fixtures: writes `key` = `value` (from params). */
export const SET_KEY_SCRIPTLET = `import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'set_key',
  run(ctx, params, { step }) {
    const { key, value, fail } = params
    if (fail) throw new Error(fail)
    ctx.set(key, value ?? step, { who: step })
    return { outputs: [key] }
  },
})
`
