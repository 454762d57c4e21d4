import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'

/**
 * Prints Office documents to PDF with LibreOffice, as a reader would print them: one soffice
 * for all of `documents` (it takes seconds to start), each `<name>.pdf` in `outDir`, with a
 * profile of its own so tests running side by side do not share LibreOffice's lock.
 */
export function officeToPdf(documents: readonly string[], outDir: string, timeoutMs = 180_000): void {
  const profile = mkdtempSync(join(tmpdir(), 'vitest-recipes-lo-profile-'))
  try {
    const result = spawnSync(
      'soffice',
      [
        `-env:UserInstallation=file://${profile}`,
        '--headless',
        '--norestore',
        '--convert-to',
        'pdf',
        '--outdir',
        outDir,
        ...documents,
      ],
      { encoding: 'utf8', timeout: timeoutMs },
    )
    expect(result.error, 'install LibreOffice (.ci/run does)').toBeUndefined()
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}
