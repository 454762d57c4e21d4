import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'

export const INIT_HELP = `Usage: recipes init [dir]

Turns an empty folder (or an existing repository) into a lab project that runs recipes:
package.json ("type": "module"), vitest.config.ts with the plugin, recipes/example.yaml
calling a TypeScript, a shell and a Python scriptlet, scriptlets/, Data/, a .gitignore for
what runs write, and VS Code settings for the recipe schema. Never overwrites a file: those
that exist are kept, and what they lack is printed.

Then: npm install && npx vitest run recipes/

Options:
  -h, --help  Show this help`

/** The template tree, shipped in the package (templates/init). Names that npm would drop or hide are renamed on copy. */
const TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../templates/init')
const RENAMED: Record<string, string> = { gitignore: '.gitignore', vscode: '.vscode' }
/** What the example needs installed, and with which versions (those this package is tested with). */
const DEV_DEPENDENCIES = ['vitest', 'vitest-recipes', 'zod'] as const

export async function initCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { help: { type: 'boolean', short: 'h' } }, 'init')
  if (values.help) {
    io.stdout(`${INIT_HELP}\n`)
    return EXIT_OK
  }
  if (positionals.length > 1)
    throw new UsageError(`recipes init takes one folder at most (got ${positionals.length}); see recipes init --help`)
  const target = resolve(io.cwd, positionals[0] ?? '.')
  if (existsSync(target) && !statSync(target).isDirectory())
    throw new UsageError(`${positionals[0]} is a file, not a folder: give recipes init a folder (or none for this one)`)
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
  const versions = ownVersions()
  place('package.json', (file) => writeFileSync(file, `${JSON.stringify(packageJson(target, versions), null, 2)}\n`))
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
  for (const advice of packageAdvice(target, versions)) io.stdout(`  note     ${advice}\n`)
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

/** The version ranges of this package's own install: itself, the Vitest it supports, its zod. */
function ownVersions(): Versions {
  const own = JSON.parse(readFileSync(join(TEMPLATES, '../../package.json'), 'utf8')) as {
    version: string
    dependencies: Record<string, string>
    peerDependencies: Record<string, string>
  }
  const vitestMajor = /(\d+)\.(\d+)/.exec(own.peerDependencies.vitest ?? '')
  return {
    vitest: vitestMajor ? `^${vitestMajor[1]}.${vitestMajor[2]}.0` : 'latest',
    'vitest-recipes': `^${own.version}`,
    zod: own.dependencies.zod ?? 'latest',
  }
}

function packageJson(target: string, versions: Versions): Record<string, unknown> {
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
  }
}

/** What an existing package.json lacks for the example to run: ES modules, the packages it imports. */
function packageAdvice(target: string, versions: Versions): string[] {
  let pkg: { type?: unknown; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
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
  return advice
}
