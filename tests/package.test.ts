import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import semver from 'semver'
import { expect, test } from 'vitest'
import { installScriptPackages } from '../plugin/cli/commands/init.ts'
import { REPO } from './e2e/project.ts'

// The package as npm publishes it and a consumer installs it: no lifecycle script of its own
// runs for the consumer, and no dependency it brings declares engines that leave out a Node
// version the package declares (npm would print EBADENGINE on that Node).

interface Manifest {
  name: string
  version: string
  engines?: { node?: string }
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
const own = read(REPO)

/** The scripts npm runs when it installs a package (prepare also for git and file: installs). */
const CONSUMER_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare']

test('the published package runs no lifecycle script when a consumer installs it', () => {
  // --ignore-scripts: dist/ is built already (npm test builds it); prepack would rebuild it under the running suite.
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' }),
  ) as { files: { path: string }[] }[]
  const files = packed!.files.map((file) => file.path)
  expect(files).toContain('package.json')
  expect(files).toContain('dist/index.js')
  // A binding.gyp makes npm run `node-gyp rebuild` as an implicit install script.
  expect(files.filter((path) => path === 'binding.gyp' || path.endsWith('/binding.gyp'))).toEqual([])
  const shipped = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Manifest
  expect(Object.keys(shipped.scripts ?? {}).filter((name) => CONSUMER_SCRIPTS.includes(name))).toEqual([])
})

/** Every package the runtime dependencies bring (optional ones included), as installed here, with how it is reached. */
function runtimeTree(): { manifest: Manifest; via: string }[] {
  const found = new Map<string, { manifest: Manifest; via: string }>()
  const visit = (dir: string, via: string) => {
    if (found.has(dir)) return
    const manifest = read(dir)
    found.set(dir, { manifest, via })
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      const installed = installedFrom(dir, name)
      if (installed) visit(installed, `${via} > ${name}`)
    }
  }
  for (const name of Object.keys(own.dependencies ?? {})) {
    const installed = installedFrom(REPO, name)
    expect(installed, `${name} is installed`).toBeDefined()
    visit(installed!, name)
  }
  return [...found.values()]
}

/** Where `name` is installed as seen from `dir`: the nearest node_modules up the tree, as Node resolves it. */
function installedFrom(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(at) === at) return undefined
  }
}

test('no runtime dependency declares engines that leave out a Node version the package declares', () => {
  const declared = own.engines?.node
  expect(declared).toBeDefined()
  // The oldest Node the project supports is in.
  expect(semver.satisfies('20.19.0', declared!)).toBe(true)
  const tree = runtimeTree()
  expect(tree.length).toBeGreaterThan(own.dependencies ? Object.keys(own.dependencies).length : 0)
  const narrower = tree
    .filter(({ manifest }) => manifest.engines?.node && !semver.subset(declared!, manifest.engines.node))
    .map(({ manifest, via }) => `${manifest.name}@${manifest.version} (node ${manifest.engines!.node}) via ${via}`)
  expect(narrower).toEqual([])
})

test('recipes init approves exactly the install scripts the runtime tree has (better-sqlite3 builds its addon)', () => {
  expect(installScriptPackages(REPO)).toEqual(['better-sqlite3'])
})
