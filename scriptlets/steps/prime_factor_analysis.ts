/**
 * NAME:    prime_factor_analysis
 * DESC:    CPU-bound on purpose (the curriculum's "CPU vs I/O" module): factorizes the
 *          validated numbers by trial division and, when `limit` is given, every integer
 *          of the range from..limit, and keeps only a summary of the range in ctx (never
 *          the factors of thousands of integers). Declared `requiresProcess: true`, so the
 *          runner runs it in a worker thread: two such steps marked `parallel: true` use
 *          two cores. The scriptlet sees a copy of ctx there; its writes come back as a
 *          patch recorded with the step as writer.
 * PARAMS:  key (string, default numbers.prime_factors_v1): the ctx key to write, so that
 *            two steps of one recipe can write different keys;
 *          numbers_key (string, default numbers.validated_v1): the list whose integers
 *            >= 1 are factorized (others are listed under inputs_skipped);
 *          from (int >= 2, default 2), limit (int, optional, at most 20,000,000): also
 *            factorize every integer of from..limit and summarize them.
 * INPUTS:  numbers.validated_v1 (or numbers_key)
 * OUTPUTS: <key> = { inputs: [{n, factors}], inputs_skipped: number[],
 *                    range: null | {from, to, count, primes, prime_factors, largest_prime,
 *                                   most_factors: {n, count}} }
 *          (the time spent is in the envelope's metrics, not in ctx, so ctx stays
 *          deterministic and checkable with ctx_equals)
 * ERRORS:  exit 2 when numbers_key is missing; exit 3 for invalid params.
 */
import { z } from 'zod'
import { defineScriptlet, ScriptletError } from 'vitest-recipes/scriptlet'
import { requireNumbers } from '../lib/numbers.ts'

const MAX_LIMIT = 20_000_000
const KEY_PATTERN = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*_v[0-9]+$/

const paramsSchema = z
  .object({
    key: z
      .string()
      .regex(KEY_PATTERN, { message: 'a ctx key like numbers.prime_factors_v1' })
      .default('numbers.prime_factors_v1'),
    numbers_key: z.string().min(1).default('numbers.validated_v1'),
    from: z.int().min(2).default(2),
    limit: z.int().min(2).max(MAX_LIMIT).optional(),
  })
  .refine((p) => p.limit === undefined || p.from <= p.limit, { message: 'from must not exceed limit', path: ['from'] })

type RangeSummary = {
  from: number
  to: number
  count: number
  primes: number
  prime_factors: number
  largest_prime: number
  most_factors: { n: number; count: number }
}

/** Prime factors of n (>= 1), smallest first, with multiplicity; [] for 1. */
export function primeFactors(n: number): number[] {
  const factors: number[] = []
  while (n % 2 === 0) {
    factors.push(2)
    n /= 2
  }
  for (let d = 3; d * d <= n; d += 2) {
    while (n % d === 0) {
      factors.push(d)
      n /= d
    }
  }
  if (n > 1) factors.push(n)
  return factors
}

/** Counts the prime factors of n without building the list (the hot loop of the range). */
function countPrimeFactors(n: number): number {
  let count = 0
  while (n % 2 === 0) {
    count++
    n /= 2
  }
  for (let d = 3; d * d <= n; d += 2) {
    while (n % d === 0) {
      count++
      n /= d
    }
  }
  return n > 1 ? count + 1 : count
}

export default defineScriptlet({
  name: 'prime_factor_analysis',
  params: paramsSchema,
  reads: ({ numbers_key }) => [numbers_key],
  requiresProcess: true,
  validate(ctx, { numbers_key }) {
    requireNumbers(ctx, numbers_key)
  },
  run(ctx, { key, numbers_key, from, limit }, { step, log, signal }) {
    const started = performance.now()
    const numbers = requireNumbers(ctx, numbers_key)
    const factorizable = (n: number) => Number.isSafeInteger(n) && n >= 1
    const inputs = numbers.filter(factorizable).map((n) => ({ n, factors: primeFactors(n) }))
    const inputsSkipped = numbers.filter((n) => !factorizable(n))

    let range: RangeSummary | null = null
    if (limit !== undefined) {
      let primes = 0
      let primeFactorsTotal = 0
      let largestPrime = 0
      let most = { n: from, count: 0 }
      for (let n = from; n <= limit; n++) {
        const count = countPrimeFactors(n)
        primeFactorsTotal += count
        if (count === 1) {
          primes++
          largestPrime = n
        }
        if (count > most.count) most = { n, count }
        // In-process runs (recipes step) can be stopped; a worker thread is ended by the runner.
        if ((n & 0xffff) === 0 && signal?.aborted)
          throw new ScriptletError('stopped: the step timed out', { details: { reached: n } })
      }
      range = {
        from,
        to: limit,
        count: limit - from + 1,
        primes,
        prime_factors: primeFactorsTotal,
        largest_prime: largestPrime,
        most_factors: most,
      }
      log(`${step}: factorized ${range.count} integers ${from}..${limit}: ${primes} primes`)
    }

    ctx.set(key, { inputs, inputs_skipped: inputsSkipped, range }, { who: step })
    const ms = Math.round(performance.now() - started)
    return {
      outputs: [key],
      metrics: { inputs: inputs.length, range_count: range?.count ?? 0, primes: range?.primes ?? 0, duration_ms: ms },
      warnings: inputsSkipped.length
        ? [`${inputsSkipped.length} value(s) of ${numbers_key} are not integers >= 1 and were not factorized`]
        : [],
    }
  },
})
