import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'load_numbers',
  params: z.object({ src: z.string() }),
  outputs: ['numbers.raw_v1'],
  run(ctx, { src }, { step, root }) {
    const values = readFileSync(resolve(root, src), 'utf8').split(/[\s,]+/).filter(Boolean).map(Number)
    ctx.set('numbers.raw_v1', values, { who: step })
  },
})
