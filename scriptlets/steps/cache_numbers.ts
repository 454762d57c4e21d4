/**
 * NAME:    cache_numbers
 * DESC:    The older framework's caching step: fingerprints the input files (sha256 over
 *          each path and its content) and says whether these exact inputs were seen
 *          before, by a marker file per fingerprint under `dir` (created on a miss).
 *          Re-running steps is the runner's job (a step's `cache:` option replays its
 *          results); this step records the fingerprint and the hit in ctx, where reports
 *          and later steps can read them.
 * PARAMS:  inputs (string[], default [Data/numbers.txt]): files relative to the project root;
 *          dir (string, default .cache/numbers): where the markers live, relative to the root
 * INPUTS:  (none: the files only)
 * OUTPUTS: cache.numbers_hash_v1 (string: 64 hex digits),
 *          cache.numbers_hit_v1 (boolean: a marker for this fingerprint existed)
 * ARTIFACTS: <dir>/<hash>.json, {hash, inputs, first_seen, step} (under .cache/, git-ignored)
 * ERRORS:  exit 3 when an input is missing or a path leads outside the project root.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { z } from 'zod'
import { defineScriptlet, EXIT_INVALID, ScriptletError } from 'vitest-recipes/scriptlet'

const insideRoot = (path: string) => !isAbsolute(path) && !path.split(/[\\/]/).includes('..')
const relativePath = z
  .string()
  .min(1)
  .refine(insideRoot, { message: 'must be a relative path inside the project root (no "..")' })

export default defineScriptlet({
  name: 'cache_numbers',
  params: z.object({
    inputs: z.array(relativePath).min(1).default(['Data/numbers.txt']),
    dir: relativePath.default('.cache/numbers'),
  }),
  outputs: ['cache.numbers_hash_v1', 'cache.numbers_hit_v1'],
  reads: [],
  run(ctx, { inputs, dir }, { step, root, log }) {
    const missing = inputs.filter(
      (input) => !existsSync(resolve(root, input)) || !statSync(resolve(root, input)).isFile(),
    )
    if (missing.length > 0)
      throw new ScriptletError(`input file not found: ${missing.join(', ')}`, {
        exitCode: EXIT_INVALID,
        details: { missing },
      })
    const hash = createHash('sha256')
    for (const input of inputs)
      hash
        .update(`${input}\0`)
        .update(readFileSync(resolve(root, input)))
        .update('\0')
    const digest = hash.digest('hex')
    const marker = join(resolve(root, dir), `${digest}.json`)
    const hit = existsSync(marker)
    if (!hit) {
      mkdirSync(resolve(root, dir), { recursive: true })
      writeFileSync(marker, `${JSON.stringify({ hash: digest, inputs, first_seen: new Date().toISOString(), step })}\n`)
    }
    log(`${step}: ${inputs.join(', ')} → ${digest.slice(0, 12)}… (${hit ? 'hit' : 'miss'})`)
    ctx.set('cache.numbers_hash_v1', digest, { who: step })
    ctx.set('cache.numbers_hit_v1', hit, { who: step })
    return { metrics: { hit: hit ? 1 : 0, inputs: inputs.length } }
  },
})
