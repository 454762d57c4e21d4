import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { REPO } from './project.ts'

// The package as users get it: `npm pack`, installed from the tarball into a fresh lab
// project with its own recipes/ and scriptlets/, run with plain `npx vitest run`.
let root: string
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } })
const npx = (args: string[]) => {
  try {
    return {
      code: 0,
      output: execFileSync('npx', args, {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe',
        env: { ...process.env, NO_COLOR: '1', CI: 'true' },
      }),
    }
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string }
    return { code: failed.status, output: `${failed.stdout}${failed.stderr}` }
  }
}
const write = (path: string, content: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), content)
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vitest-recipes-installed-'))
  // dist/ is built by `npm test`; skip the prepack build so the running suite keeps its dist.
  const tarball = npm(['pack', '--ignore-scripts', '--pack-destination', root, '--silent'], REPO)
    .trim()
    .split('\n')
    .at(-1)!
  const own = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>
    dependencies: Record<string, string>
  }
  const vitestVersion = (
    JSON.parse(readFileSync(join(REPO, 'node_modules/vitest/package.json'), 'utf8')) as { version: string }
  ).version
  write(
    'package.json',
    JSON.stringify({
      name: 'lab',
      private: true,
      type: 'module',
      devDependencies: { vitest: vitestVersion, zod: own.dependencies.zod, 'vitest-recipes': `file:./${tarball}` },
    }),
  )
  // The one install script among the dependencies is better-sqlite3's, which compiles SQLite from
  // source here (its prebuilt download is out of reach): two minutes of the suite's ten. When the
  // lab gets the same better-sqlite3 this repository built for this Node, its addon is reused;
  // any other version is built as a user's install would build it.
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], root)
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'
  const versionOf = (dir: string) =>
    (JSON.parse(readFileSync(join(dir, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string })
      .version
  if (versionOf(root) === versionOf(REPO) && existsSync(join(REPO, addon))) {
    mkdirSync(dirname(join(root, addon)), { recursive: true })
    copyFileSync(join(REPO, addon), join(root, addon))
  } else npm(['rebuild', 'better-sqlite3'], root)
  write(
    'vitest.config.ts',
    `import { defineConfig } from 'vitest/config'\nimport recipes from 'vitest-recipes'\n\nexport default defineConfig({ plugins: [recipes()] })\n`,
  )
  write(
    'scriptlets/steps/measure.ts',
    `import { defineScriptlet } from 'vitest-recipes/scriptlet'
import { z } from 'zod'

export default defineScriptlet({
  name: 'measure',
  params: z.object({ port: z.string() }),
  outputs: ['link.speed_v1'],
  run(ctx, { port }, { step }) {
    ctx.set('link.speed_v1', { port, gbps: 100 }, { who: step })
  },
})
`,
  )
  write(
    'recipes/link.yaml',
    `# yaml-language-server: $schema=../node_modules/vitest-recipes/schema/recipe.schema.json
test_meta: { test_id: LAB-7, tester: bob }
steps:
  - idx: 1
    name: measure_link
    type: ts
    module: scriptlets/steps/measure.ts
    args: { port: eth0 }
    success:
      ctx_equals: { link.speed_v1: { port: eth0, gbps: 100 } }
`,
  )
}, 240_000)
afterAll(() => rmSync(root, { recursive: true, force: true }))

test('a recipe runs with plain npx vitest run', () => {
  const result = npx(['vitest', 'run'])
  expect(result.output).toMatch(/Tests\s+1 passed/)
  expect(result.code).toBe(0)
})

test('the recipes bin runs a scriptlet on its own', () => {
  const result = npx(['recipes', 'step', 'scriptlets/steps/measure.ts', '--params', '{"port":"eth1"}'])
  expect(result.code).toBe(0)
  expect(JSON.parse(result.output.trim())).toMatchObject({ status: 'ok', outputs: ['link.speed_v1'] })
})

test('the JSON Schema ships with the package', () => {
  const schema = JSON.parse(
    readFileSync(join(root, 'node_modules/vitest-recipes/schema/recipe.schema.json'), 'utf8'),
  ) as { title: string }
  expect(schema.title).toBe('vitest-recipes recipe')
})

test('recipes init ships its templates: the example project is written from the installed package', () => {
  const result = npx(['recipes', 'init', 'new-lab'])
  expect(result.code, result.output).toBe(0)
  for (const path of ['recipes/example.yaml', 'scriptlets/greet.ts', '.gitignore', '.vscode/settings.json'])
    expect(existsSync(join(root, 'new-lab', path)), path).toBe(true)
  expect(statSync(join(root, 'new-lab/scriptlets/shell/count_words.sh')).mode & 0o111).toBe(0o111)
})

test("a failing TS scriptlet's stack shows the user's frames first and the plugin's once, at files the package has", () => {
  write(
    'scriptlets/steps/probe.ts',
    `import { defineScriptlet } from 'vitest-recipes/scriptlet'

function readPorts(count: number): number {
  if (count < 40) throw new Error(\`only \${count} ports are up\`)
  return count
}

export default defineScriptlet({
  name: 'probe',
  run() {
    readPorts(12)
  },
})
`,
  )
  write('recipes/probe.yaml', 'steps:\n  - name: probe_ports\n    type: ts\n    module: scriptlets/steps/probe.ts\n')
  try {
    const result = npx([
      'vitest',
      'run',
      'recipes/probe.yaml',
      '--reporter=default',
      '--reporter=json',
      '--outputFile=probe.json',
    ])
    expect(result.code).toBe(1)
    const failure = (
      JSON.parse(readFileSync(join(root, 'probe.json'), 'utf8')) as {
        testResults: { assertionResults: { failureMessages: string[] }[] }[]
      }
    ).testResults[0]!.assertionResults[0]!.failureMessages.join('\n')
    for (const shown of [result.output, failure]) {
      expect(shown).toContain('only 12 ports are up')
      const frames = shown.split('\n').filter((line) => /^\s+(❯|at) /.test(line))
      const own = frames
        .map((line, i) => ({ line, i }))
        .filter(({ line }) => line.includes('node_modules/vitest-recipes/'))
      const user = frames.findIndex((line) => line.includes('scriptlets/steps/probe.ts:4'))
      expect(user, shown).toBeGreaterThanOrEqual(0)
      // The user's frames come before any of the plugin's, and the plugin's are not repeated.
      for (const { i } of own) expect(i).toBeGreaterThan(user)
      expect(frames.filter((line) => line.includes('invokeScriptlet')).length, shown).toBeLessThanOrEqual(1)
      expect(frames.filter((line) => /\breadPorts\b/.test(line)).length, shown).toBe(1)
      // Every file a frame names exists in the installed package.
      for (const { line } of own) {
        const file = /(node_modules\/vitest-recipes\/[^:)\s]+)/.exec(line)![1]!
        expect(existsSync(join(root, file)), line).toBe(true)
      }
    }
  } finally {
    rmSync(join(root, 'recipes/probe.yaml'))
    rmSync(join(root, 'probe.json'), { force: true })
  }
})
