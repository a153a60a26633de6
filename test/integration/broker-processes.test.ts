import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createFleet, type Fleet, type TopologyKind } from '../../src/index.ts'
import { runWorker } from '../harness/processes.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

const fleets: Fleet[] = []
after(() => Promise.all(fleets.map((f) => f.close())))

const PROCESSES = 3
const COUNT = 1000
/**
 * Each process sends its COUNT publishes at once, while receiving PROCESSES * COUNT: on a loaded
 * machine the last of them can wait in the client's queue past the default 1 s commandTimeout.
 * The test is about fan-out and order, not latency, so commands get ample time.
 */
const COMMAND_TIMEOUT = 15_000

interface Report {
  id: string
  total: number
  errors: string[]
  publishers: Record<string, { received: number; outOfOrder: number; last: number }>
}

for (const topology of ['standalone', 'sharded', 'cluster'] as TopologyKind[]) {
  test(`[${topology}] ${PROCESSES} processes each publish ${COUNT}: every process receives all, each publisher in order`, async () => {
    const options = {
      ...(await topologyOptions(topology)),
      namespace: uniqueNamespace('fanout'),
      commandTimeout: COMMAND_TIMEOUT,
    }
    // The coordinator: starts the workers once every one of them is subscribed.
    const coordinator = createFleet(options)
    fleets.push(coordinator)
    const control = coordinator.broker({ channel: 'control' })
    const ready = new Set<string>()
    const allReady = new Promise<void>((resolve) =>
      control.subscribe((m) => {
        if (m.startsWith('ready:')) ready.add(m)
        if (ready.size === PROCESSES) resolve()
      }),
    )
    await control.ready()
    const workers = Array.from({ length: PROCESSES }, (_, i) =>
      runWorker(
        'broker-fanout.ts',
        { options, id: `p${i}`, processes: PROCESSES, count: COUNT },
        { timeout: 90_000 },
      ),
    )
    await Promise.race([allReady, Promise.all(workers)])
    await control.publish('go')
    const reports = (await Promise.all(workers)).map((out) => JSON.parse(out) as Report)

    for (const report of reports) {
      assert.deepEqual(report.errors, [], `${report.id} reported no error`)
      assert.equal(report.total, PROCESSES * COUNT, `${report.id} received every message`)
      for (let p = 0; p < PROCESSES; p++) {
        assert.deepEqual(
          report.publishers[`p${p}`],
          { received: COUNT, outOfOrder: 0, last: COUNT - 1 },
          `${report.id} got p${p}'s messages once each, in order`,
        )
      }
    }
  })
}
