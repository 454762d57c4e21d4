/**
 * NAME:    greet
 * DESC:    Writes a greeting for the lab to ctx.
 * PARAMS:  lab (string, required): who to greet
 * READS:   nothing
 * OUTPUTS: example.greeting_v1 (string)
 */
import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'

export default defineScriptlet({
  name: 'greet',
  params: z.object({ lab: z.string().min(1) }),
  reads: [], // the ctx keys it reads: checked before a run against what earlier steps write
  outputs: ['example.greeting_v1'],
  run(ctx, { lab }, { step, log }) {
    const greeting = `Hello, ${lab}!`
    log(`greeting ${lab}`) // goes to Logs/<run_id>/1_greet.log
    ctx.set('example.greeting_v1', greeting, { who: step })
    return { metrics: { characters: greeting.length } }
  },
})
