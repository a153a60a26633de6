/**
 * Sharded pub/sub follows its slot: when the slot of a subscribed channel moves to another
 * master, Redis drops the subscription (it pushes SUNSUBSCRIBE); the fleet re-subscribes on
 * the slot's new owner by itself. Runs on a private 3-master cluster, since it moves a slot.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { createFleet } from '../../src/index.ts'
import { moveEmptySlotOf } from '../harness/faults.ts'
import { fileCluster } from '../harness/file-cluster.ts'

const { cluster, fleets } = fileCluster()
const clients: Redis[] = []
after(() => {
  for (const c of clients) c.disconnect()
})

/** Waits for a server-side condition no event announces (polls Redis; bounded). */
async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('a sharded subscription follows its slot to another master, with no error and no user action', async () => {
  const errors: string[] = []
  const fleet = createFleet({
    url: cluster.urls,
    cluster: true,
    namespace: 'migrate',
    onError: (e, { op }) => errors.push(`${op}: ${String(e)}`),
  })
  fleets.push(fleet)
  const received: string[] = []
  let delivered: () => void = () => {}
  const arrived = new Promise<void>((resolve) => {
    delivered = resolve
  })
  const broker = fleet.broker({ channel: 'moving' })
  broker.subscribe((m) => {
    received.push(m)
    delivered()
  })
  await broker.ready()

  const channel = 'migrate:broker:moving'
  const nodes = cluster.urls.map((url) => {
    const client = new Redis(url)
    clients.push(client)
    return client
  })
  const subscribers = () =>
    Promise.all(
      nodes.map(async (n) =>
        Number(((await n.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1]),
      ),
    )
  const before = await subscribers()
  const owner = before.indexOf(1)
  assert.ok(owner >= 0, `subscribed on the slot's owner: ${before}`)
  // Move the (empty) slot to the next master.
  const target = (owner + 1) % nodes.length
  await moveEmptySlotOf(channel, cluster.urls)

  await eventually(async () => (await subscribers())[target] === 1, 're-subscribed on the new owner')
  assert.deepEqual(
    await subscribers(),
    nodes.map((_, i) => (i === target ? 1 : 0)),
  )
  await broker.ready()
  await broker.publish('after the move')
  await arrived
  assert.deepEqual(received, ['after the move'])
  assert.deepEqual(errors, [])
})
