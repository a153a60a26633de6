import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cli, standaloneFleets, stuckJob } from './cli-support.ts'

describe('redfleet orphans', () => {
  const standaloneFleet = standaloneFleets()

  test('orphans lists the jobs of instances that are gone', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const worker = fleet.tracker({ instanceId: 'worker-z' })
    await worker.start()
    await stuckJob(worker, 'job-7', { invoice: 7 })
    await worker.stop()
    const flags = ['--url', url, '--namespace', namespace]
    const [json, text] = await Promise.all([cli(['orphans', '--json', ...flags]), cli(['orphans', ...flags])])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(
      JSON.parse(json.stdout).map((j: { instanceId: string; id: string; payload: unknown }) => [
        j.instanceId,
        j.id,
        j.payload,
      ]),
      [['worker-z', 'job-7', { invoice: 7 }]],
    )
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^orphans: 1\njob-7 {2}instance worker-z {2}started /)
    assert.match(text.stdout, /payload \{"invoice":7\}/)
  })
})
