import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { listDeadLetters } from '../../src/admin/dead-letters.ts'
import { fleetContext } from '../../src/fleet.ts'
import { cli, deadLetters, standaloneFleets, start } from './cli-support.ts'

describe('redfleet dlq list and replay', () => {
  const standaloneFleet = standaloneFleets()

  test('dlq replay puts N dead letters back and a running consumer of their group handles them', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'billing', [1, 2])

    const listed = await cli(['dlq', 'list', 'billing:dead', '--json', ...flags])
    assert.equal(listed.code, 0, listed.stderr)
    assert.deepEqual(
      JSON.parse(listed.stdout).map(
        (l: { group: string; error: string; envelope: unknown; deliveries: number }) => [
          l.group,
          l.error,
          l.envelope,
          l.deliveries,
        ],
      ),
      [
        ['billing', 'card declined', { order: 1 }, 1],
        ['billing', 'card declined', { order: 2 }, 1],
      ],
    )

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
    assert.equal(replay.stdout, "replayed 2 dead letter(s) of 'billing:dead'\n")
    await both
    stop.abort()
    await consumer
    assert.deepEqual(handled, [{ order: 1 }, { order: 2 }])
    assert.deepEqual(await listDeadLetters(fleet, 'billing:dead'), [])
    // Nothing left to replay (or a mistyped channel or namespace), or ids it did not find: said.
    const again = await cli(['dlq', 'replay', 'billing:dead', ...flags])
    assert.equal(
      again.stdout,
      "replayed 0 dead letter(s) of 'billing:dead'; it holds no dead letters (check the channel and the namespace)\n",
    )
    const stale = await cli(['dlq', 'purge', 'billing:dead', '--ids', '1-0,2-0,1-0', ...flags])
    assert.equal(stale.code, 0, stale.stderr)
    assert.equal(
      stale.stdout,
      "purged 0 dead letter(s) of 'billing:dead'; the 2 ids given are not among its dead letters: it holds none (check the channel and the namespace)\n",
    )
    // --json says the same (helper-228: a script could not tell a mistyped channel from done).
    const [againJson, staleJson] = await Promise.all([
      cli(['dlq', 'replay', 'billing:dead', '--json', ...flags]),
      cli(['dlq', 'purge', 'billing:dead', '--ids', '1-0,2-0,1-0', '--json', ...flags]),
    ])
    /** What `dlq replay --json` prints: `count` 0 of `channel`, and what it did not find. */
    const replayedNone = (channel: string, notFound: number, holdsNone: boolean) => ({
      action: 'replay',
      channel,
      count: 0,
      notFound,
      holdsNone,
    })
    assert.deepEqual(JSON.parse(againJson.stdout), replayedNone('billing:dead', 0, true))
    assert.deepEqual(JSON.parse(staleJson.stdout), {
      action: 'purge',
      channel: 'billing:dead',
      count: 0,
      malformed: 0,
      kept: 0,
      notFound: 2,
      holdsNone: true,
    })
    // Ids of a channel that holds dead letters, not found among them: said as such.
    await deadLetters(fleet, 'billing', [3])
    const [missing, mistyped] = await Promise.all([
      cli(['dlq', 'replay', 'billing:dead', '--ids', '1-0', '--json', ...flags]),
      cli(['dlq', 'replay', 'biling:dead', '--ids', '1-0', '--json', ...flags]),
    ])
    assert.deepEqual(JSON.parse(missing.stdout), replayedNone('billing:dead', 1, false))
    assert.deepEqual(JSON.parse(mistyped.stdout), replayedNone('biling:dead', 1, true))
    // An empty list names where the namespace's dead letters are, or that it holds none.
    const [typo, elsewhere, typoJson] = await Promise.all([
      cli(['dlq', 'list', 'biling:dead', ...flags]),
      cli(['dlq', 'list', 'billing:dead', '--url', url, '--namespace', `${namespace}-typo`]),
      cli(['dlq', 'list', 'biling:dead', '--json', ...flags]),
    ])
    assert.equal(
      typo.stdout,
      `dead letters in 'biling:dead': 0 (dead letters of namespace '${namespace}' are in: billing:dead (1 entry))\n`,
    )
    // With --json, said on stderr: stdout stays the letters' array (helper-261: it was said nowhere).
    assert.deepEqual([typoJson.code, JSON.parse(typoJson.stdout)], [0, []])
    assert.equal(
      typoJson.stderr,
      `redfleet: 'biling:dead': dead letters of namespace '${namespace}' are in: billing:dead (1 entry)\n`,
    )
    // A group's default channel is named even when an event written there by hand comes first.
    await fleet.streams().publishToChannel('refund:dead', { type: 'by hand' })
    // Then a dead-letter record, as a consume loop writes it.
    const letter = { id: '1-0', group: 'refund', error: 'declined', deliveries: 1, envelope: {}, deadAt: 1 }
    await fleet.streams().publishToChannel('refund:dead', letter)
    const named = await cli(['dlq', 'list', 'biling:dead', ...flags])
    assert.match(named.stdout, /are in: billing:dead \(1 entry\), refund:dead \(2 entries\)\)\n$/)
    assert.equal(
      elsewhere.stdout,
      `dead letters in 'billing:dead': 0 (no dead letters anywhere in namespace '${namespace}-typo': check --namespace if you expected some)\n`,
    )
  })

  test('dlq replay of letters whose group was destroyed fails, exit 1, naming the group; the letters stay', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    const flags = ['--url', url, '--namespace', namespace]
    await deadLetters(fleet, 'refund', [1])
    const main = `${namespace}:streams:events`
    await (await fleetContext(fleet).redis()).client(main).call('XGROUP', 'DESTROY', main, 'refund')
    const replay = await cli(['dlq', 'replay', 'refund:dead', ...flags])
    assert.equal(replay.code, 1)
    assert.equal(replay.stdout, '')
    assert.match(replay.stderr, /addressed to group "refund", which the main stream does not have/)
    assert.equal((await listDeadLetters(fleet, 'refund:dead')).length, 1)
  })

  test('dlq list into a pipe its reader closed (| head -1) ends quietly, exit 0', async () => {
    const { fleet, url, namespace } = await standaloneFleet()
    await deadLetters(fleet, 'big', [1, 2, 3])
    const run = start(['dlq', 'list', 'big:dead', '--url', url, '--namespace', namespace])
    // Closed before the command prints its first line, so that every write of it meets EPIPE.
    run.child.stdout.destroy()
    const { code, stderr } = await run.exited
    assert.equal(stderr, '')
    assert.equal(code, 0)
  })
})
