/**
 * Entries of a dead-letter channel that are not dead-letter records (another program's XADD, an
 * application's publish) count in the channel's length (status, `/metrics`): `dlq list` says
 * it skipped them, `dlq purge` of the whole channel deletes them too so the count clears, replay
 * never replays them, and a channel holding no dead letter is not emptied by a purge.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { listDeadLetters } from '../../src/admin/dead-letters.ts'
import { ACTION_HEADER } from '../../src/dashboard/actions.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { cli, deadLetters, standaloneFleets } from './cli-support.ts'

const clients: Redis[] = []
after(() => Promise.all(clients.map((c) => c.quit())))

/** A raw client on the test server, as another program (or redis-cli) would write with. */
function raw(url: string): Redis {
  const client = new Redis(url)
  clients.push(client)
  return client
}

/** Adds an entry that is not a dead-letter record by XADD, and one by a redfleet publish. */
async function strangers(
  url: string,
  namespace: string,
  channel: string,
  fleet: Parameters<typeof deadLetters>[0],
) {
  await raw(url).xadd(`${namespace}:streams:channel:${channel}`, '*', 'foo', 'bar')
  await fleet.streams().publishToChannel(channel, { hello: 1 })
}

describe('redfleet dlq with entries that are not dead-letter records', () => {
  const standaloneFleet = standaloneFleets()

  test('list skips them and says so; purge deletes them with the letters; status clears', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'billing', [1, 2])
    await strangers(url, namespace, 'billing:dead', fleet)
    const key = `${namespace}:streams:channel:billing:dead`
    assert.equal(await raw(url).xlen(key), 4)

    const [list, json] = await Promise.all([
      cli(['dlq', 'list', 'billing:dead', ...flags]),
      cli(['dlq', 'list', 'billing:dead', '--json', ...flags]),
    ])
    assert.equal(list.code, 0, list.stderr)
    assert.match(
      list.stdout,
      /^dead letters in 'billing:dead': 2 \(2 entries skipped: not dead-letter records/,
    )
    // With --json, the array holds the letters and the count skipped is said on stderr
    // (helper-261: it was said nowhere).
    assert.equal(json.code, 0, json.stderr)
    assert.equal(JSON.parse(json.stdout).length, 2)
    assert.equal(
      json.stderr,
      "redfleet: 'billing:dead': 2 entries skipped: not dead-letter records; dlq purge deletes them\n",
    )

    const purged = await cli(['dlq', 'purge', 'billing:dead', '--json', ...flags])
    assert.equal(purged.code, 0, purged.stderr)
    assert.deepEqual(JSON.parse(purged.stdout), {
      action: 'purge',
      channel: 'billing:dead',
      count: 2,
      malformed: 2,
      kept: 0,
      notFound: 0,
      holdsNone: false,
    })
    assert.equal(await raw(url).xlen(key), 0)
    const status = await cli(['status', ...flags])
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /^dead letters: none$/m)
    assert.doesNotMatch(status.stdout, /billing:dead {2}length [1-9]/)
  })

  test('purge --ids leaves them, replay never replays them, purge of an application channel keeps them', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'ship', [1, 2])
    await strangers(url, namespace, 'ship:dead', fleet)
    const [first] = await listDeadLetters(fleet, 'ship:dead')
    const some = await cli(['dlq', 'purge', 'ship:dead', '--ids', first!.id, '--json', ...flags])
    assert.deepEqual(JSON.parse(some.stdout), {
      action: 'purge',
      channel: 'ship:dead',
      count: 1,
      malformed: 0,
      kept: 0,
      notFound: 0,
      holdsNone: false,
    })
    // Replay never replays them: the letter goes back, the two strangers stay.
    const main = `${namespace}:streams:events`
    const before = await raw(url).xlen(main)
    const replay = await cli(['dlq', 'replay', 'ship:dead', '--json', ...flags])
    assert.deepEqual(JSON.parse(replay.stdout), {
      action: 'replay',
      channel: 'ship:dead',
      count: 1,
      notFound: 0,
      holdsNone: false,
    })
    assert.equal(await raw(url).xlen(main), before + 1)
    assert.equal(await raw(url).xlen(`${namespace}:streams:channel:ship:dead`), 2)
    // No dead letter left, but named as a group's dead-letter channel: purge empties it.
    const all = await cli(['dlq', 'purge', 'ship:dead', ...flags])
    assert.equal(all.code, 0, all.stderr)
    assert.equal(
      all.stdout,
      "purged 0 dead letter(s) of 'ship:dead', and 2 entries that were not dead-letter records\n",
    )
    assert.equal(await raw(url).xlen(`${namespace}:streams:channel:ship:dead`), 0)

    // An application's channel named by mistake: no dead letter in it, nothing deleted.
    await strangers(url, namespace, 'orders', fleet)
    const listed = await cli(['dlq', 'list', 'orders', ...flags])
    assert.match(listed.stdout, /not a dead-letter channel: dlq purge keeps them\)/)
    const typo = await cli(['dlq', 'purge', 'orders', ...flags])
    assert.equal(typo.code, 0, typo.stderr)
    assert.match(
      typo.stdout,
      /^purged 0 dead letter\(s\) of 'orders'; kept 2 entries that are not dead-letter/,
    )
    assert.equal(await raw(url).xlen(`${namespace}:streams:channel:orders`), 2)
    // --json says it holds none, as a replay of it does (helper-250: the purge said false).
    const [purgeJson, replayJson] = await Promise.all([
      cli(['dlq', 'purge', 'orders', '--json', ...flags]),
      cli(['dlq', 'replay', 'orders', '--json', ...flags]),
    ])
    assert.deepEqual(JSON.parse(purgeJson.stdout), {
      action: 'purge',
      channel: 'orders',
      count: 0,
      malformed: 0,
      kept: 2,
      notFound: 0,
      holdsNone: true,
    })
    assert.equal(JSON.parse(replayJson.stdout).holdsNone, true)
  })

  test('dashboard: the page says how many entries are not dead letters, Purge all deletes them', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await deadLetters(fleet, 'audit', [1])
    await strangers(url, namespace, 'audit:dead', fleet)
    const dashboard = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: true })
    try {
      const page = (await (await fetch(`${dashboard.url}dead-letters.json?channel=audit:dead`)).json()) as {
        length: number
        letters: unknown[]
        skipped: number
      }
      assert.deepEqual([page.length, page.letters.length, page.skipped], [3, 1, 2])
      const html = await (await fetch(`${dashboard.url}dead-letters?channel=audit:dead`)).text()
      assert.match(html, /2 entries here are not dead-letter records/)
      const response = await fetch(`${dashboard.url}actions/dead-letters/purge`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [ACTION_HEADER]: '1' },
        body: JSON.stringify({ channel: 'audit:dead' }),
      })
      assert.equal(response.status, 200)
      const done = (await response.json()) as { count: number; malformed: number; message: string }
      assert.deepEqual([done.count, done.malformed], [1, 2])
      assert.match(
        done.message,
        /^purged 1 dead letter\(s\) and 2 entry\(ies\) that were not dead-letter records/,
      )
      assert.equal(await raw(url).xlen(`${namespace}:streams:channel:audit:dead`), 0)
    } finally {
      await dashboard.close()
    }
  })
})
