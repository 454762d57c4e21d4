import { Resvg } from '@resvg/resvg-js'
import { describe, expect, test } from 'vitest'
import { fitToInk, svgPng } from '../../plugin/charts/render.ts'
import { textWidth } from '../../plugin/charts/text-width.ts'
import { inkAtEdges } from './png.ts'

const FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }

describe('textWidth', () => {
  test('no narrower than resvg draws a text in DejaVu Sans, bold or not, whatever its characters', () => {
    const texts = [
      'WWWWWWWWWW',
      'mmmmmmmmmm',
      '%%%%@@@@',
      '漢字漢字漢字',
      'MWMWmwmw',
      '0.0015',
      'iiiiillll',
      'Ünïcödé ÀÉÎ',
    ]
    for (const weight of ['normal', 'bold'])
      for (const text of texts) {
        const size = 13
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="40"><text x="0" y="20" font-family="DejaVu Sans" font-weight="${weight}" font-size="${size}">${text}</text></svg>`
        const ink = new Resvg(svg, { font: FONTS }).getBBox()
        expect(ink, text).toBeDefined()
        expect(textWidth(text, size), `${weight} ${text}`).toBeGreaterThanOrEqual(ink!.x + ink!.width)
      }
  })
})

describe('svgPng', () => {
  test('a picture drawing past its edges is widened to hold it, with a margin: no ink at the edge', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40" viewBox="0 0 100 40"><rect width="100" height="40" fill="white"/>' +
      '<text x="-30" y="25" font-family="DejaVu Sans" font-size="14">cut at both ends of the picture</text></svg>'
    const { png, svg: fitted } = await svgPng(svg)
    expect(inkAtEdges(png)).toEqual([])
    expect(fitted).toMatch(/viewBox="-3\d(\.\d+)? 0 /)
  })

  test('a picture that holds what it draws is left as it is', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="100pt" height="40pt" viewBox="0 0 100 40"></svg>'
    expect(fitToInk(svg, { x: 0, y: 0, width: 100, height: 40 })).toBe(svg)
    // Graphviz draws in points: the size grows with the viewBox, in its own units.
    expect(fitToInk(svg, { x: -10, y: 0, width: 110, height: 40 })).toMatch(
      /^<svg width="\d+(\.\d+)?" height="53.33" viewBox="-16 0 116 40"/,
    )
  })
})
