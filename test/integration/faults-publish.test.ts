/**
 * Publishes and sends under ambiguous failures (SPEC §8): a private server is held with
 * `CLIENT PAUSE` for longer than `commandTimeout`, so the sent commands time out, are re-sent by
 * redfleet's retries, and every send is applied when the pause ends. Each call carries a publish
 * id, so the re-sends add nothing: every stream holds each envelope at most once (exactly once,
 * with the call's id, when the call resolved), and a call that gives up says 'unknown'.
 */
import assert from 'node:assert/strict'
import { tracingChannel } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import type { Streams } from '../../src/index.ts'
import { scriptsRun } from '../harness/command-stats.ts'
import { pausableServer } from '../harness/pausable-server.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const server = pausableServer()

/**
 * The command timeout of the fleets under test, and a pause twice as long: the first send of a
 * call times out, and a re-send (each waits up to COMMAND_TIMEOUT) is answered once the pause
 * ends, within the default 3 attempts.
 */
const COMMAND_TIMEOUT = 1000
const PAUSE = 2 * COMMAND_TIMEOUT

type Settled = { id: string } | { error: { code?: string; outcome?: string; name?: string } }

function settle(promise: Promise<string | undefined>): Promise<Settled> {
  return promise.then(
    (id) => ({ id: id ?? '' }),
    (error) => ({ error }),
  )
}

/** The envelopes of a stream (the JSON of its `env` fields), by entry id. */
async function envelopes(key: string): Promise<Map<string, string>> {
  const entries = (await server.admin.xrange(key, '-', '+')) as [string, string[]][]
  return new Map(entries.map(([id, fields]) => [id, fields[1]!]))
}

/**
 * Each call's envelope is in `stream` at most once; a call that resolved has it exactly once,
 * under the id it returned (`id` false: the call returns nothing, as send does); a call that
 * rejected failed with a timeout or lost connection that says whether it may have been applied.
 */
function assertAtMostOnce(
  stream: Map<string, string>,
  calls: { text: string; result: Settled }[],
  id = true,
): void {
  for (const { text, result } of calls) {
    const copies = [...stream].filter(([, stored]) => stored === text).map(([entryId]) => entryId)
    assert.ok(copies.length <= 1, `${text}: ${copies.length} copies`)
    if ('id' in result) {
      assert.equal(copies.length, 1, `${text}: resolved, so it is stored`)
      if (id) assert.equal(result.id, copies[0], `${text}: the id of its one entry`)
    } else {
      assert.ok(['ERR_TIMEOUT', 'ERR_CONNECTION'].includes(result.error.code ?? ''), String(result.error))
      assert.ok(['unknown', 'not-applied'].includes(result.error.outcome ?? ''), String(result.error))
    }
  }
}

for (const size of [1, 3]) {
  // With several command connections a resend must still go behind its first send (on the
  // same connection): the node runs each connection's commands in order, not the pool's.
  test(`publish, publishToChannel and send during a pause longer than commandTimeout: re-sent, never stored twice (pool of ${size})`, async () => {
    const fleet = server.fleet({ commandTimeout: COMMAND_TIMEOUT, pool: { size } })
    const namespace = fleet.namespace
    const streams = fleet.streams()
    const membership = fleet.membership()
    // Connected: the paused sends are applied later.
    await streams.publish({ warm: true }, ['a'])
    await membership.send('m', 'warm')
    const sendsBefore = await scriptsRun(server.admin)

    await server.pause(PAUSE)
    const published = [0, 1, 2].map((n) => {
      const env = { kind: 'publish', n }
      return { text: JSON.stringify(env), promise: settle(streams.publish(env, ['a', 'b'])) }
    })
    const toChannel = [0, 1, 2].map((n) => {
      const env = { kind: 'channel', n }
      return { text: JSON.stringify(env), promise: settle(streams.publishToChannel('c', env)) }
    })
    const sent = [0, 1, 2].map((n) => ({
      text: JSON.stringify({ message: { kind: 'send', n } }),
      promise: settle(membership.send('m', { kind: 'send', n }).then(() => undefined)),
    }))
    const settled = async (calls: { text: string; promise: Promise<Settled> }[]) =>
      Promise.all(calls.map(async ({ text, promise }) => ({ text, result: await promise })))
    const [publishes, channelPublishes, sends] = await Promise.all([
      settled(published),
      settled(toChannel),
      settled(sent),
    ])

    const events = await envelopes(`${namespace}:streams:events`)
    assertAtMostOnce(events, publishes)
    // The channels of a publish get the same envelope, each at most once (ids are the main stream's).
    for (const channel of ['a', 'b']) {
      assertAtMostOnce(await envelopes(`${namespace}:streams:channel:${channel}`), publishes, false)
    }
    assertAtMostOnce(await envelopes(`${namespace}:streams:channel:c`), channelPublishes)
    assertAtMostOnce(await envelopes(`${namespace}:membership:inbox:m`), sends, false)
    // Not because nothing was re-sent: a first send is a plain XADD, a resend (after the first
    // timed out) the script that looks for it first. 3 publishes of 3 writes, 3 publishToChannel
    // and 3 sends of 1 are 15 writes, each resent at least once.
    const calls = (await scriptsRun(server.admin)) - sendsBefore
    assert.ok(calls >= 15, `redfleet re-sent the timed-out writes (${calls} script calls for 15 writes)`)

    // What the stream holds is also what readers see: no duplicate reaches a consumer.
    const read = await streams.readRange('c')
    assert.equal(new Set(read.map((d) => JSON.stringify(d.envelope))).size, read.length)
  })
}

// helper-273: on a ring, a publish whose main stream's node answered while its channel's node
// timed out was re-sent whole; busy publishers had meanwhile pushed the first copy out of the
// latest 1,000 entries a resend looks among, so each retry added another copy (3 of a call that
// resolved). A resend now sends only the writes no attempt saw acknowledged.
test('publish on a ring: the write a node acknowledged is not re-sent while another node timed out', async () => {
  const { standalone } = await testServers()
  const healthy = new Redis(standalone)
  try {
    // A namespace whose main stream is on the shared server, and a channel on the pausable one.
    let streams: Streams | undefined
    let namespace = ''
    for (let n = 0; streams === undefined; n++) {
      const fleet = server.fleet({
        url: [standalone, server.url],
        namespace: `${uniqueNamespace('ring')}-${n}`,
        commandTimeout: 300,
        // The resend comes well after the first send's timeout: time for the other publishers.
        retry: { attempts: 3, base: 2000, max: 2000, jitter: 0 },
      })
      await fleet.streams().publish({ warm: true })
      if ((await healthy.exists(`${fleet.namespace}:streams:events`)) === 1) {
        streams = fleet.streams()
        namespace = fleet.namespace
      } else await fleet.close()
    }
    const main = `${namespace}:streams:events`
    let channel = ''
    for (let n = 0; channel === ''; n++) {
      await streams.publishToChannel(`c${n}`, { warm: true })
      if ((await server.admin.exists(`${namespace}:streams:channel:c${n}`)) === 1) channel = `c${n}`
    }

    // The first send's timeout: its main-stream write was answered by then (that node is idle).
    const timedOut = new Promise<void>((resolve) => {
      const commands = tracingChannel('redfleet:command')
      const handlers = {
        error(context: object) {
          if ((context as { namespace?: string }).namespace !== namespace) return
          commands.unsubscribe(handlers as never)
          resolve()
        },
      }
      commands.subscribe(handlers as never)
    })
    await server.pause(1500, 'WRITE')
    const env = { kind: 'publish across nodes' }
    const publishing = streams.publish(env, [channel])
    await timedOut
    // Other publishers move the main stream on by more than a resend looks among.
    const pipeline = healthy.pipeline()
    for (let n = 0; n < 1100; n++) pipeline.xadd(main, '*', 'other', String(n))
    await pipeline.exec()
    const id = await publishing

    const text = JSON.stringify(env)
    const copies = ((await healthy.xrange(main, '-', '+')) as [string, string[]][]).filter(
      ([, fields]) => fields[1] === text,
    )
    assert.deepEqual(
      copies.map(([entryId]) => entryId),
      [id],
      'one copy in the main stream, under the id the call returned',
    )
    const inChannel = await streams.readRange(channel)
    assert.equal(inChannel.filter((d) => JSON.stringify(d.envelope) === text).length, 1)
  } finally {
    healthy.disconnect()
  }
})
