#!/usr/bin/env node
// The README's pictures of the documents a run writes: the first page of report.docx and of
// report.xlsx as printed (LibreOffice to PDF, then poppler's pdftoppm), and report.html as
// opened from disk (Chromium, playwright-core). Run it after `npx vitest run recipes/`:
//
//   node tools/pictures.js [reports/<run_id>]     (default: the newest run of 12_advanced_full)
//
// Writes docs/images/report-{docx,xlsx,html}.png. Needs soffice, pdftoppm and chromium on
// the PATH (Debian: libreoffice-core libreoffice-writer libreoffice-calc poppler-utils chromium).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const IMAGES = join(ROOT, 'docs/images')
/** The recipe whose run the pictures show (the dashboard's picture shows it too). */
const RECIPE_RUN = /-12_advanced_full-/

function newestRun() {
  const reports = join(ROOT, 'reports')
  const runs = existsSync(reports)
    ? readdirSync(reports)
        .filter((name) => RECIPE_RUN.test(name) && existsSync(join(reports, name, 'report.docx')))
        .map((name) => join(reports, name))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    : []
  if (runs.length === 0)
    throw new Error('no run of recipes/12_advanced_full.yaml under reports/: run `npx vitest run recipes/` first')
  return runs[0]
}

/** The first page of `document` as printed, as a PNG `width` pixels wide. */
function firstPage(document, picture, width) {
  const work = mkdtempSync(join(tmpdir(), 'recipes-pictures-'))
  try {
    execFileSync('soffice', ['--headless', '--convert-to', 'pdf', '--outdir', work, document], { stdio: 'ignore' })
    const pdf = join(work, basename(document).replace(/\.\w+$/, '.pdf'))
    execFileSync('pdftoppm', [
      '-png',
      '-f',
      '1',
      '-l',
      '1',
      '-singlefile',
      '-scale-to-x',
      String(width),
      '-scale-to-y',
      '-1',
      pdf,
      join(work, 'page'),
    ])
    renameSync(join(work, 'page.png'), picture)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

async function htmlPage(document, picture) {
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    await page.goto(pathToFileURL(document).href)
    await page.waitForLoadState('load')
    await page.screenshot({ path: picture })
  } finally {
    await browser.close()
  }
}

const run = process.argv[2] ? resolve(process.argv[2]) : newestRun()
console.log(`pictures of ${run}`)
firstPage(join(run, 'report.docx'), join(IMAGES, 'report-docx.png'), 900)
console.log('  docs/images/report-docx.png')
firstPage(join(run, 'report.xlsx'), join(IMAGES, 'report-xlsx.png'), 850)
console.log('  docs/images/report-xlsx.png')
if (existsSync(join(run, 'report.html'))) {
  await htmlPage(join(run, 'report.html'), join(IMAGES, 'report-html.png'))
  console.log('  docs/images/report-html.png')
}
