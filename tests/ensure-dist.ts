import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { REPO } from './e2e/project.ts'

/**
 * This repository's runs (its example recipes, its tests) need dist/: the CPU worker of
 * process steps and the end-to-end tests load the built package. `npm test` builds it; a
 * fresh clone after `npm ci` has none (the package builds in prepack, for the packer only, so
 * no consumer runs a script of it), and gets it built here once.
 */
export default function ensureDist(): void {
  if (existsSync(join(REPO, 'dist/index.js'))) return
  console.error('vitest-recipes: dist/ is missing; building it (npm run build)')
  execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] })
}
