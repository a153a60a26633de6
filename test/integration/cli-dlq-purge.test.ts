import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { listDeadLetters } from '../../src/admin/dead-letters.ts'
import { cli, deadLetters, standaloneFleets } from './cli-support.ts'

describe('redfleet dlq list and purge', () => {
  const standaloneFleet = standaloneFleets()

  test('dlq list prints each dead letter; dlq purge --ids deletes those only', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'billing', [3, 4])

    const text = await cli(['dlq', 'list', 'billing:dead', '--limit', '1', ...flags])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^dead letters in 'billing:dead': 1\+\n/)
    assert.match(text.stdout, /group billing {2}from the main stream \d+-\d+\n/)
    assert.match(text.stdout, /1 deliveries, dead at .*: card declined\n {2}\{"order":3\}\n$/)

    const [third] = await listDeadLetters(fleet, 'billing:dead')
    const purged = await cli([
      'dlq',
      'purge',
      'billing:dead',
      '--ids',
      `${third!.id},0-1`,
      '--json',
      ...flags,
    ])
    assert.equal(purged.code, 0, purged.stderr)
    assert.deepEqual(JSON.parse(purged.stdout), {
      action: 'purge',
      channel: 'billing:dead',
      count: 1,
      malformed: 0,
      kept: 0,
      notFound: 1,
      holdsNone: false,
    })
    assert.deepEqual(
      (await listDeadLetters(fleet, 'billing:dead')).map((l) => l.envelope),
      [{ order: 4 }],
    )
  })
})
