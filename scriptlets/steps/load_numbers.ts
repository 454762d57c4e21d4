/**
 * NAME:    load_numbers
 * DESC:    Reads numbers from a text file (whitespace, comma or semicolon separated;
 *          `#` starts a comment) into ctx, in file order.
 * PARAMS:  src (string, required): path relative to the project root, e.g. Data/numbers.txt
 * OUTPUTS: numbers.raw_v1 (number[])
 * ERRORS:  exit 3 when the file is missing or holds something that is not a number.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { defineScriptlet, EXIT_INVALID, ScriptletError } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'load_numbers',
  params: z.object({ src: z.string().min(1) }),
  outputs: ['numbers.raw_v1'],
  reads: [],
  run(ctx, { src }, { step, root }) {
    const path = resolve(root, src)
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new ScriptletError(`Source file not found: ${src}`, {
        exitCode: EXIT_INVALID,
        details: { src, resolved: path },
      })
    }
    const tokens = readFileSync(path, 'utf8')
      .split('\n')
      .map((line) => line.replace(/#.*/, ''))
      .join(' ')
      .split(/[\s,;]+/)
      .filter(Boolean)
    const values = tokens.map(Number)
    const bad = tokens.filter((_, i) => !Number.isFinite(values[i]))
    if (bad.length > 0) {
      throw new ScriptletError(
        `Not a number in ${src}: ${bad
          .slice(0, 5)
          .map((t) => JSON.stringify(t))
          .join(', ')}`,
        {
          exitCode: EXIT_INVALID,
          details: { src, bad_tokens: bad.slice(0, 20), bad_count: bad.length },
        },
      )
    }
    ctx.set('numbers.raw_v1', values, { who: step })
    return {
      metrics: { count: values.length },
      warnings: values.length === 0 ? [`${src} holds no numbers`] : [],
    }
  },
})
