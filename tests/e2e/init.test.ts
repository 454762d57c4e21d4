import { spawn } from 'node:child_process'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, test, vi } from 'vitest'
import { childEnv, createProject, REPO } from './project.ts'

// `recipes init` on an empty folder gives a project whose example recipe runs as it is
// (the dependencies are linked here as `npm install` would install them).
const project = createProject({})
afterAll(() => project.remove())

const CREATED = [
  'package.json',
  'Data/README.md',
  '.gitignore',
  'recipes/example.yaml',
  'scriptlets/greet.ts',
  'scriptlets/python/summarize.py',
  'scriptlets/shell/count_words.sh',
  'vitest.config.ts',
  '.vscode/settings.json',
]

test('an empty folder becomes a lab project whose example recipe (TS, shell, Python) passes and reports', async () => {
  rmSync(join(project.root, 'package.json'))
  rmSync(join(project.root, 'vitest.config.ts'))
  const init = await project.recipes(['init'])
  expect(init.code, init.output).toBe(0)
  expect(init.stdout).toContain(CREATED.map((path) => `  created  ${path}\n`).join(''))
  expect(init.stdout).toContain('\nNext:\n  npm install\n  npx vitest run recipes/')
  expect(init.stdout).not.toContain('note')
  expect(JSON.parse(project.read('package.json'))).toMatchObject({
    type: 'module',
    devDependencies: {
      vitest: expect.stringMatching(/^\^\d+\.\d+\.0$/),
      'vitest-recipes': '^0.1.0',
      zod: expect.any(String),
    },
  })
  expect(statSync(join(project.root, 'scriptlets/shell/count_words.sh')).mode & 0o111).toBe(0o111)
  expect(JSON.parse(project.read('.vscode/settings.json'))['yaml.schemas']).toEqual({
    './node_modules/vitest-recipes/schema/recipe.schema.json': ['recipes/**/*.yaml', 'recipes/**/*.yml'],
  })

  const [validate, run] = [await project.recipes(['validate']), await project.vitest(['run', 'recipes/'])]
  expect(validate.code, validate.output).toBe(0)
  // Its scriptlets declare what they read, write and take: every step is checked, none "unchecked".
  expect(validate.output).not.toContain('unchecked')
  expect(run.code, run.output).toBe(0)
  expect(run.output).toContain('Tests  3 passed (3)')
  // ES modules: no CommonJS warning from Vite.
  expect(run.output).not.toMatch(/CJS|CommonJS/)
  expect(run.output).toMatch(/recipes\/example\.yaml {2}passed {2}reports\/\d{8}T\d{6}Z-example-[0-9a-f]+\//)
})

test('a second init never overwrites: every file is kept as the user left it', async () => {
  const edited = `${project.read('recipes/example.yaml')}# my change\n`
  writeFileSync(join(project.root, 'recipes/example.yaml'), edited)
  const again = await project.recipes(['init'])
  expect(again.code, again.output).toBe(0)
  expect(again.stdout).not.toContain('created')
  for (const path of CREATED) expect(again.stdout).toContain(`  kept     ${path} (it exists; not changed)\n`)
  expect(project.read('recipes/example.yaml')).toBe(edited)
})

test('in an existing repository, it says what package.json lacks instead of changing it', async () => {
  const repo = createProject({})
  try {
    writeFileSync(join(repo.root, 'package.json'), '{"name":"lab","devDependencies":{"vitest":"^4.1.0"}}\n')
    const init = await repo.recipes(['init', 'lab'])
    expect(init.code, init.output).toBe(0)
    // `lab` is a new folder of its own: created whole, with its own package.json.
    expect(init.stdout).toContain('recipes init: a lab project in lab\n  created  package.json\n')
    expect(init.stdout).toContain('\nNext:\n  cd lab\n  npm install\n')
    expect(JSON.parse(readFileSync(join(repo.root, 'lab/package.json'), 'utf8'))).toMatchObject({
      name: 'lab',
      type: 'module',
    })
    const here = await repo.recipes(['init'])
    expect(here.stdout).toContain('  kept     package.json (it exists; not changed)\n')
    expect(here.stdout).toContain(
      '  note     package.json has no "type": "module": add it (vitest.config.ts and the scriptlets are ES modules; without it Vite warns on every run)\n',
    )
    expect(here.stdout).toMatch(
      / {2}note {5}package\.json does not list vitest-recipes, zod: npm install --save-dev vitest-recipes@\^0\.1\.0 zod@\S+\n/,
    )
    expect(readFileSync(join(repo.root, 'package.json'), 'utf8')).toBe(
      '{"name":"lab","devDependencies":{"vitest":"^4.1.0"}}\n',
    )
    const file = await repo.recipes(['init', 'package.json'])
    expect(file.code).toBe(3)
    expect(file.stderr).toContain(
      'package.json is a file, not a folder: give recipes init a folder (or none for this one)',
    )
  } finally {
    repo.remove()
  }
})

test('the Vitest it writes is the newest major the Node it runs for supports (the running one, or --node)', async () => {
  const repo = createProject({})
  try {
    const vitestFor = async (node: string | undefined, folder: string) => {
      const init = await repo.recipes(['init', folder, ...(node === undefined ? [] : ['--node', node])])
      expect(init.code, init.output).toBe(0)
      return (
        JSON.parse(readFileSync(join(repo.root, folder, 'package.json'), 'utf8')) as {
          devDependencies: Record<string, string>
        }
      ).devDependencies.vitest
    }
    // Vitest 5 needs Node ^22.12.0 || ^24.0.0 || >=26.0.0 (its engines); Vitest 4.1 runs on Node 20.
    expect(await vitestFor('20.19.0', 'node20')).toBe('^4.1.0')
    expect(await vitestFor('22.11.0', 'node22-early')).toBe('^4.1.0')
    expect(await vitestFor('22.12.0', 'node22')).toBe('^5.0.0')
    expect(await vitestFor('v24.3.1', 'node24')).toBe('^5.0.0')
    const running = Number(process.versions.node.split('.')[0]) >= 22 ? '^5.0.0' : '^4.1.0'
    expect(await vitestFor(undefined, 'running')).toBe(running)
    const odd = await repo.recipes(['init', 'node23', '--node', '23.1.0'])
    expect(odd.stdout).toContain(
      '  note     no Vitest release this package supports declares Node 23.1.0 (Vitest 5: ^22.12.0 || ^24.0.0 || >=26.0.0; Vitest 4.1: ^20.0.0 || ^22.0.0 || >=24.0.0): package.json names vitest ^5.0.0, the newest\n',
    )
    const bad = await repo.recipes(['init', 'x', '--node', 'banana'])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toContain('--node takes a Node version such as 22.12.0, not "banana"')
  } finally {
    repo.remove()
  }
})

test("its package.json approves the install scripts of the package's dependencies (npm's allowScripts), and says so of an existing one", async () => {
  const repo = createProject({})
  try {
    const init = await repo.recipes(['init', 'lab'])
    expect(init.code, init.output).toBe(0)
    const pkg = JSON.parse(readFileSync(join(repo.root, 'lab/package.json'), 'utf8')) as Record<string, unknown>
    expect(pkg.allowScripts).toEqual({ 'better-sqlite3': true })
    writeFileSync(
      join(repo.root, 'package.json'),
      '{"name":"lab","type":"module","devDependencies":{"vitest":"^4.1.0","vitest-recipes":"^0.1.0","zod":"^4.0.0"}}\n',
    )
    const here = await repo.recipes(['init'])
    expect(here.stdout).toContain(
      '  note     package.json does not approve the install script of better-sqlite3 (npm 11 asks for it): npm approve-scripts --no-allow-scripts-pin better-sqlite3 (after npm install), or add "allowScripts": {"better-sqlite3": true}\n',
    )
  } finally {
    repo.remove()
  }
})

test('recipes validate <recipe> checks the scriptlets that recipe runs, not every file under scriptlets/', async () => {
  // A broken scriptlet no step of the example runs: the whole project fails, the example alone does not.
  writeFileSync(join(project.root, 'scriptlets/shell/Unused Probe.sh'), 'echo {}\n')
  const all = await project.recipes(['validate'])
  expect(all.code).toBe(3)
  expect(all.stderr).toContain('scriptlets/shell/Unused Probe.sh:1:1 RECIPE_SCHEMA')
  const example = await project.recipes(['validate', 'recipes/example.yaml'])
  expect(example.code, example.output).toBe(0)
  expect(example.stdout).toBe('1 recipe(s) and 3 scriptlet file(s) are valid\n')
  // One the example does run: named with its file and line.
  const script = join(project.root, 'scriptlets/shell/count_words.sh')
  writeFileSync(script, readFileSync(script, 'utf8').replace('# DESC: Counts the words of TEXT.\n', ''))
  const broken = await project.recipes(['validate', 'recipes/example.yaml'])
  expect(broken.code).toBe(3)
  expect(broken.stderr).toContain(
    'scriptlets/shell/count_words.sh:1:1 RECIPE_SCHEMA: shell scriptlet has no "# DESC:" header line',
  )
  expect(broken.stderr).not.toContain('Unused Probe')
})

test('watch mode re-runs the recipe when one of its shell or Python scriptlets changes, as it does for TypeScript', async () => {
  const watcher = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'watch', 'recipes/'], {
    cwd: project.root,
    // On an engineer's machine, not in CI.
    env: childEnv({ CI: undefined }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let output = ''
  watcher.stdout.on('data', (chunk: Buffer) => (output += chunk))
  watcher.stderr.on('data', (chunk: Buffer) => (output += chunk))
  /** Resolves once the output has said `text` `times` times (a run ends with "Waiting for file changes"). */
  const saidTimes = (text: string, times: number) =>
    vi.waitFor(() => expect(output.split(text).length - 1).toBeGreaterThanOrEqual(times), {
      timeout: 60_000,
      interval: 100,
    })
  try {
    await saidTimes('Waiting for file changes', 1)
    const append = (path: string, line: string) =>
      writeFileSync(join(project.root, path), `${project.read(path)}${line}\n`)
    append('scriptlets/shell/count_words.sh', '# changed')
    await saidTimes('Waiting for file changes', 2)
    expect(output).toContain('RERUN  scriptlets/shell/count_words.sh')
    append('scriptlets/python/summarize.py', '# changed')
    await saidTimes('Waiting for file changes', 3)
    expect(output).toContain('RERUN  scriptlets/python/summarize.py')
    expect(output.split('Tests  3 passed (3)').length - 1).toBe(3)
  } finally {
    watcher.kill()
  }
})
