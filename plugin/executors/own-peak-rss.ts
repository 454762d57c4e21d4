import { openSync, readSync } from 'node:fs'

/**
 * This process's peak RSS so far, in KiB, read the cheapest way that is true here.
 * getrusage's maxRSS is the usual answer, but a forked process (Vitest's default worker)
 * starts with its parent's peak as its own: until the worker outgrows the Vitest process,
 * every step's growth of it reads 0. Linux keeps the process's own peak as VmHWM in
 * /proc/self/status, read with one pread on a file kept open; it is used when maxRSS is
 * found inherited (checked once). Elsewhere, maxRSS.
 */
export function ownPeakRssKiB(): number {
  reader ??= chooseReader()
  return reader()
}

let reader: (() => number) | undefined

function chooseReader(): () => number {
  const maxRss = () => process.resourceUsage().maxRSS
  let status: number
  try {
    status = openSync('/proc/self/status', 'r')
  } catch {
    return maxRss
  }
  const buffer = Buffer.alloc(8192)
  const highWaterMark = () => {
    const length = readSync(status, buffer, 0, buffer.length, 0)
    const text = buffer.toString('latin1', 0, length)
    const at = text.indexOf('VmHWM:')
    return at < 0 ? Number.NaN : Number.parseInt(text.slice(at + 6), 10)
  }
  const own = highWaterMark()
  if (!Number.isFinite(own)) return maxRss
  // Inherited: getrusage reports more than this process ever held (allow a page table's worth of slack).
  return maxRss() > own + 1024 ? highWaterMark : maxRss
}
