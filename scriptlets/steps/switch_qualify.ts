/**
 * NAME:    switch_qualify
 * DESC:    A simulated switch for the matrix example (recipes/13_matrix.yaml): "connects" to
 *          the switch named `dut`, waits as a real check would, and reports what it found.
 *          The figures are made from the switch's name, so each device gives its own,
 *          and the same ones every run.
 * EXPORTS: ports (switch.ports_v1), firmware (switch.firmware_v1), throughput
 *          (switch.throughput_v1): one check each
 * PARAMS:  dut (string, required): the switch's name, e.g. rack1-sw2
 *          ports (number, default 48, ports only): the switch's port count
 *          wait_ms (number, default 300): how long the check takes
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { defineScriptlet } from 'vitest-recipes/scriptlet'

/** A number from 0 to 1 made from `text`: the same text, the same number. */
function seeded(text: string): number {
  let hash = 2166136261
  for (const char of text) hash = Math.imul(hash ^ char.codePointAt(0)!, 16777619)
  return (hash >>> 0) / 0xffffffff
}

const device = { dut: z.string().min(1), wait_ms: z.number().int().nonnegative().default(300) }

/** Each check of the qualification: its own export (`function:` in the recipe), writing its own key. */
export const ports = defineScriptlet({
  name: 'switch_ports',
  params: z.object({ ...device, ports: z.number().int().positive().default(48) }),
  outputs: ['switch.ports_v1'],
  reads: [],
  async run(ctx, { dut, ports, wait_ms }, { step, signal, log }) {
    log(`${dut}: counting the ports up`)
    await sleep(wait_ms, undefined, { signal })
    const up = ports - Math.floor(seeded(`${dut}/ports`) * 3)
    ctx.set('switch.ports_v1', { dut, up, total: ports }, { who: step })
    return { metrics: { ports_up: up } }
  },
})

export const firmware = defineScriptlet({
  name: 'switch_firmware',
  params: z.object(device),
  outputs: ['switch.firmware_v1'],
  reads: ['switch.ports_v1'],
  async run(ctx, { dut, wait_ms }, { step, signal, log }) {
    log(`${dut}: reading the firmware version`)
    await sleep(wait_ms, undefined, { signal })
    const version = `9.3.${Math.floor(seeded(`${dut}/firmware`) * 10)}`
    ctx.set('switch.firmware_v1', { dut, version }, { who: step })
    return { outputs: [version] }
  },
})

export const throughput = defineScriptlet({
  name: 'switch_throughput',
  params: z.object(device),
  outputs: ['switch.throughput_v1'],
  reads: ['switch.ports_v1'],
  async run(ctx, { dut, wait_ms }, { step, signal, log }) {
    log(`${dut}: measuring the throughput`)
    await sleep(wait_ms, undefined, { signal })
    const gbps = Math.round((90 + seeded(`${dut}/throughput`) * 10) * 10) / 10
    ctx.set('switch.throughput_v1', { dut, gbps }, { who: step })
    return { metrics: { throughput_gbps: gbps } }
  },
})
