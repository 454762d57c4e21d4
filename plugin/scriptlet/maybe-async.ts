/**
 * A value now, or a promise of it. The step path stays synchronous for as long as what it
 * calls is: a scriptlet that returns without awaiting anything costs no promise, no
 * microtask and no timer (each await on that path measured several microseconds in a test
 * worker, more than a no-op step itself; see bench/overhead).
 */
export type MaybePromise<T> = T | Promise<T>

/** Whether `value` is a promise or any other thenable (a scriptlet may return either). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/** `next(value)`, at once when `value` is not a promise, else when it resolves. */
export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value)
}
