import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cli, deadLetters, standaloneFleets } from './cli-support.ts'

describe('redfleet dlq and orphans', () => {
  const standaloneFleet = standaloneFleets()

  test('dlq list, replay and purge: replayed dead letters are handled by a running consumer of their group', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'billing', [1, 2])

    const listed = await cli(['dlq', 'list', 'billing:dead', '--json', ...flags])
    assert.equal(listed.code, 0, listed.stderr)
    const letters = JSON.parse(listed.stdout)
    assert.deepEqual(
      letters.map((l: { group: string; error: string; envelope: unknown; deliveries: number }) => [
        l.group,
        l.error,
        l.envelope,
        l.deliveries,
      ]),
      [
        ['billing', 'card declined', { order: 1 }, 1],
        ['billing', 'card declined', { order: 2 }, 1],
      ],
    )
    const text = await cli(['dlq', 'list', 'billing:dead', '--limit', '1', ...flags])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /dead letters in 'billing:dead': 1\+/)
    assert.match(text.stdout, /group billing {2}from the main stream/)
    assert.match(text.stdout, /1 deliveries, dead at .*: card declined/)

    const handled: unknown[] = []
    const stop = new AbortController()
    let done!: () => void
    const both = new Promise<void>((resolve) => {
      done = resolve
    })
    const consumer = fleet.streams().consume(
      'billing',
      'healthy',
      (d) => {
        handled.push(d.envelope)
        if (handled.length === 2) done()
      },
      { signal: stop.signal },
    )
    const replay = await cli(['dlq', 'replay', 'billing:dead', ...flags])
    assert.equal(replay.code, 0, replay.stderr)
    assert.equal(replay.stdout.trim(), "replayed 2 dead letter(s) of 'billing:dead'")
    await both
    stop.abort()
    await consumer
    assert.deepEqual(handled, [{ order: 1 }, { order: 2 }])
    assert.deepEqual(JSON.parse((await cli(['dlq', 'list', 'billing:dead', '--json', ...flags])).stdout), [])

    await deadLetters(fleet, 'billing', [3, 4])
    const [third] = JSON.parse((await cli(['dlq', 'list', 'billing:dead', '--json', ...flags])).stdout)
    const purged = await cli(['dlq', 'purge', 'billing:dead', '--ids', third.id, '--json', ...flags])
    assert.equal(purged.code, 0, purged.stderr)
    assert.deepEqual(JSON.parse(purged.stdout), { action: 'purge', channel: 'billing:dead', count: 1 })
    const left = JSON.parse((await cli(['dlq', 'list', 'billing:dead', '--json', ...flags])).stdout)
    assert.deepEqual(
      left.map((l: { envelope: unknown }) => l.envelope),
      [{ order: 4 }],
    )
  })

  test('orphans lists the jobs of instances that are gone', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const worker = fleet.tracker({ instanceId: 'worker-z' })
    await worker.start()
    let recorded!: () => void
    const running = new Promise<void>((resolve) => {
      recorded = resolve
    })
    void worker.track('job-7', { invoice: 7 }, async () => {
      recorded()
      await new Promise(() => {})
    })
    await running
    await worker.stop()
    const json = await cli(['orphans', '--json', '--url', url, '--namespace', namespace])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(
      JSON.parse(json.stdout).map((j: { instanceId: string; id: string; payload: unknown }) => [
        j.instanceId,
        j.id,
        j.payload,
      ]),
      [['worker-z', 'job-7', { invoice: 7 }]],
    )
    const text = await cli(['orphans', '--url', url, '--namespace', namespace])
    assert.match(text.stdout, /^orphans: 1\njob-7 {2}instance worker-z {2}started /)
    assert.match(text.stdout, /payload \{"invoice":7\}/)
  })
})
