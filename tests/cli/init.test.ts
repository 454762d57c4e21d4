import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { installScriptPackages } from '../../plugin/cli/commands/init.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-install-scripts-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

function pkg(dir: string, manifest: Record<string, unknown>, extra: Record<string, string> = {}): void {
  mkdirSync(join(root, dir), { recursive: true })
  writeFileSync(join(root, dir, 'package.json'), JSON.stringify({ version: '1.0.0', ...manifest }))
  for (const [file, content] of Object.entries(extra)) {
    mkdirSync(dirname(join(root, dir, file)), { recursive: true })
    writeFileSync(join(root, dir, file), content)
  }
}

test('the install scripts npm asks to approve: every package the installed tree reaches that has one, nested and optional ones too', () => {
  pkg('.', {
    name: 'the-package',
    scripts: { prepack: 'npm run build', postinstall: 'echo own' },
    dependencies: { builds: '1', plain: '1' },
    optionalDependencies: { 'optional-native': '1', 'not-installed': '1' },
  })
  pkg('node_modules/builds', { name: 'builds', scripts: { install: 'node-gyp rebuild', test: 'x' } })
  pkg('node_modules/plain', { name: 'plain', scripts: { prepare: 'tsc' }, dependencies: { gyp: '1', builds: '1' } })
  // npm runs `node-gyp rebuild` for a binding.gyp without an install script.
  pkg('node_modules/plain/node_modules/gyp', { name: 'gyp' }, { 'binding.gyp': '{}' })
  pkg('node_modules/optional-native', { name: 'optional-native', scripts: { preinstall: 'node check.js' } })
  // Installed, but nothing of the package's tree depends on it.
  pkg('node_modules/unrelated', { name: 'unrelated', scripts: { postinstall: 'node x.js' } })
  // The package's own scripts are not its dependencies' (and prepare does not run for a registry install).
  expect(installScriptPackages(root)).toEqual(['builds', 'gyp', 'optional-native'])
})
