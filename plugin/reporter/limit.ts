/**
 * At most so many tasks at a time: the reporter writes several runs' documents side by side
 * (their file and zip work overlap) while bounding the memory and cores they take.
 */

/** Runs each task given to it, at most `limit` at a time, in the order given. */
export function limiter(limit: number): <R>(task: () => Promise<R>) => Promise<R> {
  let running = 0
  const waiting: (() => void)[] = []
  return async (task) => {
    if (running < limit) running++
    else await new Promise<void>((go) => waiting.push(go))
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else running--
    }
  }
}

/** `task` of each item, at most `limit` running at a time; one promise per item, in item order. */
export function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R>[] {
  const limited = limiter(limit)
  return items.map((item) => limited(() => task(item)))
}
