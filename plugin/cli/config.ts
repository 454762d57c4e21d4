import { existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import type { ResolvedConfig as ViteResolvedConfig } from 'vite'
import type { RecipesOptions } from '../compile/options.ts'
import type { RecipesPluginApi } from '../compile/vite-plugin.ts'

/** The config files Vitest looks for, in its order (vitest.config first, then vite.config). */
const CONFIG_FILES = ['vitest.config', 'vite.config'].flatMap((name) =>
  ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].map((extension) => `${name}${extension}`),
)

/**
 * The project's Vitest config could not be loaded (syntax error, a throw, a missing import)
 * or holds a bad plugin option. Exit code 3: the CLI never falls back to the defaults then,
 * since they name another run store and other recipe globs than the project's.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly code = 'CONFIG_INVALID'
  /** The config file, as shown to the user (relative to the working directory). */
  readonly file: string

  constructor(file: string, reason: string) {
    super(
      `${file} could not be loaded (CONFIG_INVALID): ${reason}\n` +
        `  The recipes CLI takes its options (run store, recipe globs) from ${file}: fix it, ` +
        '`npx vitest run` shows the same error.',
    )
    this.file = file
  }
}

/** The plugin options of the project's Vitest config, and its root; the defaults only when there is no config file. */
export async function loadPluginOptions(cwd: string): Promise<{ root: string; options: RecipesOptions }> {
  const configFile = findConfigFile(cwd)
  const { resolveConfig } = await import('vitest/node')
  let resolved: ViteResolvedConfig & { viteConfig?: ViteResolvedConfig }
  try {
    // Vitest 4 resolves to { vitestConfig, viteConfig }, Vitest 5 to Vite's resolved config itself.
    resolved = (await resolveConfig(
      { root: cwd, config: configFile ?? false },
      { logLevel: 'silent' },
    )) as unknown as typeof resolved
  } catch (error) {
    const shown = configFile ? relative(cwd, configFile) || configFile : 'the Vitest config'
    throw new ConfigError(shown, describeLoadFailure(error, cwd, shown))
  }
  const viteConfig = resolved.viteConfig ?? resolved
  const plugin = viteConfig.plugins.find((candidate) => candidate.name === 'vitest-recipes')
  return { root: viteConfig.root, options: (plugin?.api as RecipesPluginApi | undefined)?.options ?? {} }
}

/** The config file Vitest would load from `cwd`: the first of its names, in `cwd` or the nearest folder above. */
function findConfigFile(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const found = CONFIG_FILES.map((name) => join(dir, name)).find((path) => existsSync(path))
    if (found || dirname(dir) === dir) return found
  }
}

interface BundleError {
  code?: string
  message: string
  loc?: { line: number; column: number; file?: string }
}

/** The reason in the user's terms: where in the config, what; never the frames of Vite's config loader. */
function describeLoadFailure(error: unknown, cwd: string, shownFile: string): string {
  if (!(error instanceof Error)) return String(error)
  // Vite bundles the config first: a syntax error or an unresolved relative import fails the bundle.
  const bundleErrors = (error as { errors?: BundleError[] }).errors
  if (Array.isArray(bundleErrors) && bundleErrors.length > 0)
    return bundleErrors.map((bundleError) => describeBundleError(bundleError, cwd, shownFile)).join('; ')
  return cleanMessage(error.message, shownFile)
}

function describeBundleError({ message, loc }: BundleError, cwd: string, shownFile: string): string {
  // The first line says what; the rest is a code frame of the bundle, not of the user's file.
  const text = cleanMessage(message, shownFile).split('\n')[0]!.trim()
  if (!loc?.file) return text
  // Vite prepends its own declarations to line 1 of the bundle: a column there would be off.
  const where = loc.line === 1 ? `${loc.line}` : `${loc.line}:${loc.column + 1}`
  return `${relative(cwd, loc.file) || loc.file}:${where}: ${text}`
}

/** Without colors, and with the temporary bundle Vite imported named as the config file it came from. */
function cleanMessage(message: string, shownFile: string): string {
  return stripVTControlCharacters(message)
    .trim()
    .replace(/\S*\.vite-temp[\\/]\S+?\.mjs/g, shownFile)
}
