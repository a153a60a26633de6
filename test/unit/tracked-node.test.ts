/**
 * One tracked master on its own, over scripted connections: it vouches only once tracking is
 * enabled on a master, stops on any break, and a failed enabling is tried again by the periodic
 * check instead of waiting for a connection event that may never come, and a command the control
 * connection never answers (lost with it, or a server that stopped answering) holds nothing.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { TrackedNode } from '../../src/cache/tracked-node.ts'
import type { NodeState, NodeSubscriber } from '../../src/pubsub/index.ts'
import type { DedicatedConnection } from '../../src/transport/types.ts'

/** The fleet's subscriber to the node: up, with CLIENT ID 7. */
function subscriber(): NodeSubscriber {
  return {
    nodeId: 'n1',
    state: 'up' as NodeState,
    clientId: async () => 7,
    subscribe: () => ({ ready: async () => {}, unsubscribe: () => {} }),
    onState: () => () => {},
    probe: async () => undefined,
  } as unknown as NodeSubscriber
}

/** A ready control connection answering each command with `answer` (which may throw). */
function control(answer: (command: string, args: unknown[]) => unknown) {
  const sent: string[] = []
  const connection = Object.assign(new EventEmitter(), {
    status: 'ready',
    options: {},
    connect: async () => {},
    disconnect: () => {},
    quit: async () => 'OK',
    call: async (command: string, ...args: unknown[]) => {
      sent.push([command, ...args].join(' '))
      return answer(command, args)
    },
  })
  return { connection: connection as unknown as DedicatedConnection, sent }
}

function hooks() {
  const seen = { reports: [] as string[], demotions: 0, worked: 0 }
  return {
    seen,
    hooks: {
      invalidate: () => {},
      demoted: () => void seen.demotions++,
      report: (_error: unknown, what: string) => void seen.reports.push(what),
      worked: () => void seen.worked++,
    },
  }
}

/** Lets the node's queued steps (each a few awaited fake replies) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
  await new Promise((resolve) => setImmediate(resolve))
}

test('enabling on a master: ROLE, then tracking off and on with the redirect and prefixes', async () => {
  const { connection, sent } = control((command) => (command === 'ROLE' ? ['master'] : 'OK'))
  const node = new TrackedNode('n1', subscriber(), connection, ['ns:cache:'], hooks().hooks, 1000, 7000)
  node.start()
  await settle()
  assert.equal(node.live, true)
  assert.deepEqual(sent, [
    'ROLE',
    'CLIENT TRACKING off',
    'CLIENT TRACKING on REDIRECT 7 BCAST PREFIX ns:cache:',
  ])
  await node.close()
  assert.equal(node.live, false)
})

/** A node on a control connection answering with `answer`, started and settled. */
async function started(answer: Parameters<typeof control>[0]) {
  const { connection } = control(answer)
  const { hooks: h, seen } = hooks()
  const node = new TrackedNode('n1', subscriber(), connection, ['p:'], h, 1000, 7000)
  node.start()
  await settle()
  return { node, seen }
}

test('a ROLE that timed out while enabling is tried again by the periodic check', async () => {
  let roles = 0
  const { node, seen } = await started((command) => {
    if (command !== 'ROLE') return 'OK'
    roles++
    if (roles === 1) throw new Error('Command timed out')
    return ['master']
  })
  assert.equal(node.live, false, 'not vouching after a failed enabling')
  assert.deepEqual(seen.reports, ['ROLE'])
  assert.equal(seen.worked, 0)
  await node.check()
  assert.equal(node.live, true, 'the check enabled tracking')
  assert.equal(roles, 2)
  assert.equal(seen.worked, 1, 'the end of the failing spell is told (for the fleet-wide FailingNodes)')
  await node.close()
  assert.equal(seen.worked, 1, 'told once')
})

test('a CLIENT TRACKING that failed is tried again by the periodic check', async () => {
  let tracking = 0
  const { node, seen } = await started((command, args) => {
    if (command === 'ROLE') return ['master']
    if (args[1] === 'on' && ++tracking === 1) throw new Error('Command timed out')
    return 'OK'
  })
  assert.equal(node.live, false)
  assert.deepEqual(seen.reports, ['CLIENT TRACKING'])
  await node.check()
  assert.equal(node.live, true)
  await node.close()
})

test('a redirect to a subscriber connection that died meanwhile is not reported: its reconnect enables tracking again (helper-307)', async () => {
  let tracking = 0
  const { node, seen } = await started((command, args) => {
    if (command === 'ROLE') return ['master']
    if (args[1] === 'on' && ++tracking === 1) {
      throw Object.assign(new Error('ERR The client ID you want redirect to does not exist'), {
        name: 'ReplyError',
      })
    }
    return 'OK'
  })
  assert.equal(node.live, false, 'not vouching: nothing tracks for it')
  assert.deepEqual(seen.reports, [], 'the subscriber killed after telling its id is no failure of the node')
  await node.check()
  assert.equal(node.live, true)
  await node.close()
})

test('a redirect Redis says is gone twice for the same subscriber id is reported (a proxy between them)', async () => {
  const { node, seen } = await started((command, args) => {
    if (command === 'ROLE') return ['master']
    if (args[1] === 'on') throw new Error('ERR The client ID you want redirect to does not exist')
    return 'OK'
  })
  assert.deepEqual(seen.reports, [])
  await node.check()
  assert.deepEqual(seen.reports, ['CLIENT TRACKING'])
  assert.equal(node.live, false)
  await node.close()
})

test('a live node whose ROLE says replica stops vouching and asks for the topology again', async () => {
  let role = 'master'
  const { node, seen } = await started((command) => (command === 'ROLE' ? [role] : 'OK'))
  assert.equal(node.live, true)
  const epoch = node.epoch
  role = 'slave'
  await node.check()
  assert.equal(node.live, false)
  assert.equal(node.epoch, epoch + 1, 'its entries are flushed')
  assert.equal(seen.demotions, 1)
  await node.check()
  assert.equal(node.live, false, 'a replica is never enabled')
  assert.equal(seen.demotions, 2)
  await node.close()
})

test('the control connection closing stops vouching; its ready enables again', async () => {
  const { connection } = control((command) => (command === 'ROLE' ? ['master'] : 'OK'))
  const node = new TrackedNode('n1', subscriber(), connection, ['p:'], hooks().hooks, 1000, 7000)
  node.start()
  await settle()
  const epoch = node.epoch
  ;(connection as unknown as EventEmitter).emit('close')
  assert.equal(node.live, false)
  assert.equal(node.epoch, epoch + 1)
  ;(connection as unknown as EventEmitter).emit('ready')
  await settle()
  assert.equal(node.live, true)
  await node.close()
})

test('checks while an enabling is waiting queue no second one', async () => {
  let release: (() => void) | undefined
  let roles = 0
  const { connection } = control(async (command) => {
    if (command !== 'ROLE') return 'OK'
    roles++
    if (roles === 1) await new Promise<void>((resolve) => (release = resolve))
    return ['master']
  })
  const node = new TrackedNode('n1', subscriber(), connection, ['p:'], hooks().hooks, 1000, 7000)
  node.start()
  await settle()
  const checks = [node.check(), node.check(), node.check()]
  release!()
  await Promise.all(checks)
  assert.equal(node.live, true)
  assert.equal(roles, 1, 'the checks waited for the enabling in flight')
  await node.close()
})

test('a ROLE lost with its connection holds nothing: the next ready enables tracking', async () => {
  let roles = 0
  // The first ROLE is never answered, as ioredis leaves a command in flight when its connection
  // closes (it does not re-send it, and a dedicated connection has no command timeout).
  const { connection } = control((command) => {
    if (command !== 'ROLE') return 'OK'
    return ++roles === 1 ? new Promise(() => {}) : ['master']
  })
  const { hooks: h, seen } = hooks()
  const node = new TrackedNode('n1', subscriber(), connection, ['p:'], h, 0, Number.POSITIVE_INFINITY)
  node.start()
  await settle()
  assert.equal(node.live, false)
  ;(connection as unknown as EventEmitter).emit('close')
  ;(connection as unknown as EventEmitter).emit('ready')
  await settle()
  assert.equal(node.live, true, 'the lost ROLE did not hold the queue')
  assert.equal(roles, 2)
  assert.deepEqual(seen.reports, [], 'a loss the node saw itself is not reported')
  await node.close()
})

test('a ROLE the server never answers is given up after commandTimeout', async () => {
  let roles = 0
  const { connection } = control((command) => {
    if (command !== 'ROLE') return 'OK'
    return ++roles === 1 ? new Promise(() => {}) : ['master']
  })
  const { hooks: h, seen } = hooks()
  const node = new TrackedNode('n1', subscriber(), connection, ['p:'], h, 5, 15)
  // The deadline timer does not hold the process open (unref): this keeps it up meanwhile.
  const alive = setInterval(() => {}, 1000)
  node.start()
  await node.check() // waits for the enabling in flight: it fails at its deadline
  clearInterval(alive)
  assert.equal(node.live, false)
  assert.deepEqual(seen.reports, ['ROLE'])
  await node.check()
  assert.equal(node.live, true)
  await node.close()
})

test('a live node whose ROLE goes unanswered stops vouching without a demotion, and is enabled again', async () => {
  let failing = false
  const { node, seen } = await started((command) => {
    if (command !== 'ROLE') return 'OK'
    if (failing) throw new Error('Command timed out')
    return ['master']
  })
  assert.equal(node.live, true)
  const epoch = node.epoch
  failing = true
  await node.check()
  assert.equal(node.live, false, 'a node not known to be a master does not vouch')
  assert.equal(node.epoch, epoch + 1, 'its entries are flushed')
  assert.equal(seen.demotions, 0, 'a slow server is not a demotion: the topology is not re-read')
  failing = false
  await node.check()
  assert.equal(node.live, true)
  await node.close()
})

test('trusted for the bound from tracking on, then from each answered probe; a refused probe is reported once', async () => {
  const sub = subscriber() as unknown as { probe(): Promise<number | undefined> }
  let answer: () => Promise<number | undefined> = async () => undefined
  let probes = 0
  sub.probe = () => {
    probes++
    return answer()
  }
  const { connection } = control((command) => (command === 'ROLE' ? ['master'] : 'OK'))
  const { hooks: h, seen } = hooks()
  const before = performance.now()
  const node = new TrackedNode('n1', sub as unknown as NodeSubscriber, connection, ['p:'], h, 1000, 700)
  node.start()
  await settle()
  assert.equal(node.live, true)
  assert.ok(node.trustedUntil >= before + 700 && node.trustedUntil <= performance.now() + 700)
  const sentAt = performance.now() + 5000
  answer = async () => sentAt
  await node.check()
  await settle()
  assert.equal(probes, 1, 'a check of a live node probes its invalidations connection')
  assert.equal(node.trustedUntil, sentAt + 700)
  answer = async () => {
    throw new Error("NOPERM this user has no permissions to run the 'ping' command")
  }
  await node.check()
  await node.check()
  await settle()
  assert.equal(node.trustedUntil, sentAt + 700, 'a refused probe trusts nothing more')
  assert.deepEqual(
    seen.reports.filter((what) => what.startsWith('PING')),
    ['PING (its entries are not served without it)'],
    'reported once',
  )
  await node.close()
  await node.check()
  assert.equal(probes, 3, 'not once it stopped vouching')
})
