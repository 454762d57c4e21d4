import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, test } from 'vitest'
import { REPO } from './e2e/project.ts'

/**
 * The documentation's promises that a test can keep: every relative link in the README and
 * docs/ leads to a file (and heading) of this repository, and the README's first screen gives
 * the two commands a new user needs on a fresh clone.
 */

/** The Markdown files users read: the README, every page under docs/, and the folder READMEs they link to. */
function documentationFiles(): string[] {
  const docs = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? docs(join(dir, entry.name)) : entry.name.endsWith('.md') ? [join(dir, entry.name)] : [],
    )
  return [
    join(REPO, 'README.md'),
    ...docs(join(REPO, 'docs')),
    join(REPO, 'recipes/README.md'),
    join(REPO, 'reports/README.md'),
  ]
}

/** Markdown text without fenced code blocks and inline code spans (links there are examples, not links). */
function proseOf(markdown: string): string {
  let fenced = false
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced
        return ''
      }
      return fenced ? '' : line.replace(/`[^`]*`/g, '``')
    })
    .join('\n')
}

/** The targets of the inline links and images of a Markdown text, `[text](target)` and `![alt](target "title")`. */
function linkTargets(markdown: string): string[] {
  return [...proseOf(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(
    (match) => match[1]!,
  )
}

/** The anchors GitHub gives a file's headings (github-slugger: lower case, punctuation dropped, spaces to hyphens, repeats numbered). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced
    const heading = fenced ? undefined : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

/** What is wrong with each relative link of `file` (its text given), as `file: target: why`. */
function brokenLinks(file: string, markdown: string, root: string): string[] {
  const broken: string[] = []
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:: not checked here
    const [path = '', fragment] = target.split('#', 2)
    const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path))
    const shown = `${relative(root, file)}: ${target}`
    if (relative(root, resolved).startsWith('..')) {
      broken.push(`${shown}: leads outside the repository`)
      continue
    }
    if (path !== '' && !existsSync(resolved)) {
      broken.push(`${shown}: ${relative(root, resolved)} does not exist`)
      continue
    }
    if (fragment !== undefined && resolved.endsWith('.md') && (resolved === file || statSync(resolved).isFile())) {
      const text = resolved === file ? markdown : readFileSync(resolved, 'utf8')
      if (!headingAnchors(text).has(fragment))
        broken.push(`${shown}: no heading #${fragment} in ${relative(root, resolved)}`)
    }
  }
  return broken
}

describe('the link checker', () => {
  const root = join(REPO, 'docs')
  const page = join(root, 'page.md')

  test('finds links and images in prose, not in code', () => {
    const text = [
      'See [the store](store.md#statuses) and ![a picture](images/x.png "title").',
      'Inline `[not](a-link.md)` code.',
      '```md',
      '[not a link either](missing.md)',
      '```',
      'And <https://example.com> or [the web](https://example.com/a).',
    ].join('\n')
    expect(linkTargets(text)).toEqual(['store.md#statuses', 'images/x.png', 'https://example.com/a'])
  })

  test('names the anchors as GitHub does', () => {
    const text = '# The `recipes` CLI\n## Selecting steps (`-t`) and the VS Code extension\n## Statuses\n## Statuses\n'
    expect([...headingAnchors(text)]).toEqual([
      'the-recipes-cli',
      'selecting-steps--t-and-the-vs-code-extension',
      'statuses',
      'statuses-1',
    ])
  })

  test('reports a link to a missing file, a missing heading and a path outside the repository', () => {
    const text =
      '[a](no-such-page.md) [b](architecture.md#no-such-heading) [c](../../outside.md) [d](#here) [e](#nowhere)\n## Here\n'
    expect(brokenLinks(page, text, REPO)).toEqual([
      'docs/page.md: no-such-page.md: docs/no-such-page.md does not exist',
      'docs/page.md: architecture.md#no-such-heading: no heading #no-such-heading in docs/architecture.md',
      'docs/page.md: ../../outside.md: leads outside the repository',
      'docs/page.md: #nowhere: no heading #nowhere in docs/page.md',
    ])
  })
})

test('every relative link in the README and docs/ leads to a file and heading that exist', () => {
  const files = documentationFiles()
  expect(files.length).toBeGreaterThan(10)
  expect(files.flatMap((file) => brokenLinks(file, readFileSync(file, 'utf8'), REPO))).toEqual([])
})

test("the README's first screen gives the install-and-run command and the test command, and CI runs them", () => {
  const firstScreen = readFileSync(join(REPO, 'README.md'), 'utf8').split('\n').slice(0, 60).join('\n')
  expect(firstScreen).toContain('npm ci && npx vitest run recipes/')
  expect(firstScreen).toMatch(/^npm test\b/m)
  expect(firstScreen).toContain('docs/images/dashboard-run.png')
  // The README's test command is what CI runs on a clean clone.
  const ci = readFileSync(join(REPO, '.ci/run'), 'utf8')
  expect(ci).toMatch(/^npm ci\b/m)
  expect(ci).toMatch(/^npm test$/m)
  const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts
  expect(scripts.test).toContain('vitest run')
})

test('the pictures the documentation shows are small enough to keep in git', () => {
  for (const file of readdirSync(join(REPO, 'docs/images')))
    expect(statSync(join(REPO, 'docs/images', file)).size, file).toBeLessThan(200 * 1024)
})
