import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import semver from 'semver'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'

export const INIT_HELP = `Usage: recipes init [dir] [--node <version>]

Turns an empty folder (or an existing repository) into a lab project that runs recipes:
package.json ("type": "module"), vitest.config.ts with the plugin, recipes/example.yaml
calling a TypeScript, a shell and a Python scriptlet, scriptlets/, Data/, a .gitignore for
what runs write, and VS Code settings for the recipe schema. Never overwrites a file: those
that exist are kept, and what they lack is printed.

package.json names the newest Vitest the Node it runs on supports (Vitest 5 needs Node
22.12+; Node 20 gets Vitest 4.1), and approves the install scripts of this package's
dependencies that need one (better-sqlite3 builds its SQLite addon), in npm's allowScripts.

Then: npm install && npx vitest run recipes/

Options:
  --node <version>  Choose the Vitest for this Node version instead of the running one's
  -h, --help        Show this help`

/** The template tree, shipped in the package (templates/init). Names that npm would drop or hide are renamed on copy. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const TEMPLATES = join(PACKAGE_ROOT, 'templates/init')
const RENAMED: Record<string, string> = { gitignore: '.gitignore', vscode: '.vscode' }
/** What the example needs installed, and with which versions (those this package is tested with). */
const DEV_DEPENDENCIES = ['vitest', 'vitest-recipes', 'zod'] as const

export async function initCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    { help: { type: 'boolean', short: 'h' }, node: { type: 'string' } },
    'init',
  )
  if (values.help) {
    io.stdout(`${INIT_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length > 1)
    throw new UsageError(`recipes init takes one folder at most (got ${positionals.length}); see recipes init --help`)
  const target = resolve(io.cwd, positionals[0] ?? '.')
  if (existsSync(target) && !statSync(target).isDirectory())
    throw new UsageError(`${positionals[0]} is a file, not a folder: give recipes init a folder (or none for this one)`)
  const node = values.node === undefined ? process.versions.node : semver.clean(values.node)
  if (node === null || semver.valid(node) === null)
    throw new UsageError(`--node takes a Node version such as 22.12.0, not "${values.node}"`)
  mkdirSync(target, { recursive: true })

  const created: string[] = []
  const kept: string[] = []
  const place = (path: string, write: (file: string) => void) => {
    const file = join(target, path)
    if (existsSync(file)) {
      kept.push(path)
      return
    }
    mkdirSync(dirname(file), { recursive: true })
    write(file)
    created.push(path)
  }
  const own = ownPackage()
  const vitest = vitestFor(node, own)
  const versions = ownVersions(own, vitest.range)
  const approved = installScriptPackages()
  place('package.json', (file) =>
    writeFileSync(file, `${JSON.stringify(packageJson(target, versions, approved), null, 2)}\n`),
  )
  for (const path of templateFiles(TEMPLATES)) {
    const source = join(TEMPLATES, path)
    place(
      path
        .split('/')
        .map((part) => RENAMED[part] ?? part)
        .join('/'),
      (file) => {
        copyFileSync(source, file)
        chmodSync(file, statSync(source).mode & 0o777)
      },
    )
  }

  const nearby = relative(io.cwd, target)
  const shown = nearby.startsWith('..') ? target : nearby || '.'
  const cd = /^[\w./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`
  io.stdout(`recipes init: a lab project in ${shown}\n`)
  for (const path of created) io.stdout(`  created  ${path}\n`)
  for (const path of kept) io.stdout(`  kept     ${path} (it exists; not changed)\n`)
  const notes = [...(vitest.note ? [vitest.note] : []), ...packageAdvice(target, versions, approved)]
  for (const advice of notes) io.stdout(`  note     ${advice}\n`)
  io.stdout(
    `\nNext:\n${shown === '.' ? '' : `  cd ${cd}\n`}  npm install\n  npx vitest run recipes/     # reports in reports/<run_id>/\n`,
  )
  return EXIT_OK
}

/** Every file under the template tree, as paths relative to it with `/`. */
function templateFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) =>
      entry.isDirectory()
        ? templateFiles(join(dir, entry.name), `${prefix}${entry.name}/`)
        : [`${prefix}${entry.name}`],
    )
}

type Versions = Record<(typeof DEV_DEPENDENCIES)[number], string>

interface OwnPackage {
  version: string
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
}

function ownPackage(): OwnPackage {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as OwnPackage
}

/**
 * The Vitest releases this package is tested with, newest first, and the Node versions each
 * declares (the `engines` of vitest@5 and vitest@4.1 in the npm registry). Those outside the
 * package's peer range are never written.
 */
export const VITEST_RELEASES = [
  { name: 'Vitest 5', range: '^5.0.0', node: '^22.12.0 || ^24.0.0 || >=26.0.0' },
  { name: 'Vitest 4.1', range: '^4.1.0', node: '^20.0.0 || ^22.0.0 || >=24.0.0' },
] as const

/** The newest Vitest this package supports that runs on `node`; the newest, with a note, when none declares it. */
function vitestFor(node: string, own: OwnPackage): { range: string; note?: string } {
  const peer = own.peerDependencies.vitest ?? '*'
  const supported = VITEST_RELEASES.filter((release) => semver.subset(release.range, peer))
  const fits = supported.find((release) => semver.satisfies(node, release.node))
  if (fits) return { range: fits.range }
  const newest = supported[0]
  if (!newest) return { range: peer }
  return {
    range: newest.range,
    note: `no Vitest release this package supports declares Node ${node} (${supported.map((release) => `${release.name}: ${release.node}`).join('; ')}): package.json names vitest ${newest.range}, the newest`,
  }
}

/** The version ranges of this package's own install: itself, the Vitest for this Node, its zod. */
function ownVersions(own: OwnPackage, vitest: string): Versions {
  return { vitest, 'vitest-recipes': `^${own.version}`, zod: own.dependencies.zod ?? 'latest' }
}

/** The lifecycle scripts npm runs when it installs a package (and approves by allowScripts). */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'] as const

/**
 * The packages among this package's installed dependencies (all of its tree) that run an
 * install script, which npm 11 asks the project to approve (allowScripts): better-sqlite3,
 * which builds its addon. Read from the installed packages, as npm would find them.
 */
export function installScriptPackages(from: string = PACKAGE_ROOT): string[] {
  const found = new Set<string>()
  const seen = new Set<string>()
  const visit = (dir: string) => {
    const real = realpathSync(dir)
    if (seen.has(real)) return
    seen.add(real)
    const pkg = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as {
      name: string
      scripts?: Record<string, string>
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    // npm runs `node-gyp rebuild` for a package with a binding.gyp and no install script of its own.
    if (
      real !== realpathSync(from) &&
      (INSTALL_SCRIPTS.some((name) => pkg.scripts?.[name]) || existsSync(join(real, 'binding.gyp')))
    )
      found.add(pkg.name)
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const installed = installedPackage(real, name)
      if (installed) visit(installed)
    }
  }
  visit(from)
  return [...found].sort()
}

/** Where `name` is installed as seen from `dir`: the nearest node_modules up the tree, as Node resolves it. */
function installedPackage(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(at) === at) return undefined
  }
}

function packageJson(target: string, versions: Versions, approved: string[]): Record<string, unknown> {
  const name =
    basename(target)
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[._-]+|-+$/g, '') || 'lab-recipes'
  return {
    name,
    private: true,
    type: 'module',
    scripts: { test: 'vitest run recipes/', recipes: 'recipes' },
    devDependencies: versions,
    // npm 11 asks a project to approve the install scripts of its dependencies.
    ...(approved.length > 0 ? { allowScripts: Object.fromEntries(approved.map((name) => [name, true])) } : {}),
  }
}

/** What an existing package.json lacks for the example to run: ES modules, the packages it imports. */
function packageAdvice(target: string, versions: Versions, approved: string[]): string[] {
  let pkg: {
    type?: unknown
    dependencies?: Record<string, string>
    devDependencies?: Record<string, string>
    allowScripts?: Record<string, unknown>
  }
  try {
    pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as typeof pkg
  } catch (error) {
    return [
      `package.json could not be read (${(error as Error).message}): it needs "type": "module" and ${DEV_DEPENDENCIES.join(', ')}`,
    ]
  }
  const advice: string[] = []
  if (pkg.type !== 'module')
    advice.push(
      'package.json has no "type": "module": add it (vitest.config.ts and the scriptlets are ES modules; without it Vite warns on every run)',
    )
  const missing = DEV_DEPENDENCIES.filter((name) => !pkg.dependencies?.[name] && !pkg.devDependencies?.[name])
  if (missing.length > 0)
    advice.push(
      `package.json does not list ${missing.join(', ')}: npm install --save-dev ${missing.map((name) => `${name}@${versions[name]}`).join(' ')}`,
    )
  // An entry by name, or pinned to versions (`name@1.2.3`), approves it; `false` is the user's denial, kept.
  const unapproved = approved.filter(
    (name) => !Object.keys(pkg.allowScripts ?? {}).some((entry) => entry === name || entry.startsWith(`${name}@`)),
  )
  if (unapproved.length > 0)
    advice.push(
      `package.json does not approve the install script${unapproved.length > 1 ? 's' : ''} of ${unapproved.join(', ')} (npm 11 asks for it): npm approve-scripts --no-allow-scripts-pin ${unapproved.join(' ')} (after npm install), or add "allowScripts": {${unapproved.map((name) => `"${name}": true`).join(', ')}}`,
    )
  return advice
}
