import { inflateSync } from 'node:zlib'

/**
 * A PNG's pixels as RGBA, read with zlib only: 8-bit RGB or RGBA, not interlaced (what resvg
 * writes). Enough to look at a chart's edges.
 */
export function decodePng(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const bytes = Buffer.from(png)
  let offset = 8
  let width = 0
  let height = 0
  let channels = 4
  const idat: Buffer[] = []
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset)
    const type = bytes.subarray(offset + 4, offset + 8).toString('latin1')
    const body = bytes.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      if (body[8] !== 8 || body[12] !== 0) throw new Error('decodePng reads 8-bit, non-interlaced PNGs only')
      channels = { 2: 3, 6: 4 }[body[9]!] ?? 0
      if (!channels) throw new Error(`decodePng reads RGB and RGBA PNGs only, not colour type ${body[9]}`)
    } else if (type === 'IDAT') idat.push(body)
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const rows = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? rows[y * stride + x - channels]! : 0
      const up = y > 0 ? rows[(y - 1) * stride + x]! : 0
      const upLeft = y > 0 && x >= channels ? rows[(y - 1) * stride + x - channels]! : 0
      const predictor = [
        0,
        left,
        up,
        (left + up) >> 1,
        (() => {
          const p = left + up - upLeft
          const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)]
          return pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft
        })(),
      ][filter]!
      rows[y * stride + x] = (line[x]! + predictor) & 0xff
    }
  }
  if (channels === 4) return { width, height, rgba: rows }
  const rgba = new Uint8Array(width * height * 4)
  for (let i = 0; i < width * height; i++) {
    rgba.set(rows.subarray(i * 3, i * 3 + 3), i * 4)
    rgba[i * 4 + 3] = 255
  }
  return { width, height, rgba }
}

/**
 * Where a picture on white has ink in its outermost `band` pixels: `top`, `bottom`, `left`,
 * `right`, each with how many pixels there are not (near) white. Empty when its edges are clear.
 */
export function inkAtEdges(png: Uint8Array, band = 1): string[] {
  const { width, height, rgba } = decodePng(png)
  const inked = (x: number, y: number) => {
    const i = (y * width + x) * 4
    return rgba[i + 3]! > 16 && (rgba[i]! < 230 || rgba[i + 1]! < 230 || rgba[i + 2]! < 230)
  }
  const count = (xs: number[], ys: number[]) => xs.reduce((sum, x) => sum + ys.filter((y) => inked(x, y)).length, 0)
  const all = (n: number) => Array.from({ length: n }, (_, i) => i)
  const first = (n: number) => all(Math.min(band, n))
  const last = (n: number) => all(Math.min(band, n)).map((i) => n - 1 - i)
  const edges = {
    top: count(all(width), first(height)),
    bottom: count(all(width), last(height)),
    left: count(first(width), all(height)),
    right: count(last(width), all(height)),
  }
  return Object.entries(edges)
    .filter(([, n]) => n > 0)
    .map(([edge, n]) => `${edge}: ${n} px`)
}
