/**
 * A durable pipeline on a node-redis cluster (NodeRedisPipeline): a WAIT counts the writes of
 * the connection it is sent on, so when a write ran elsewhere (its route says so through
 * `resent`), the WAIT is asked again where it ran and the fewest acknowledgements count.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NodeRedisPipeline, type Send } from '../../src/transport/node-redis-pipeline.ts'

/** A connection that answers WAIT with `acks` and WAITAOF with `[1, acks]`, and logs what it got. */
function connection(acks: number, log: string[], name: string): Send {
  return async (args) => {
    const command = String(args[0])
    log.push(`${name} ${command}`)
    if (command === 'WAIT') return acks
    if (command === 'WAITAOF') return [1, acks]
    return 'OK'
  }
}

/** A route that runs its commands on `ranOn` (a redirection), telling `resent` so. */
function redirectedTo(ranOn: Send | undefined, answer: Send): Send {
  return (args, resent) => {
    resent?.(ranOn)
    return (ranOn ?? answer)(args)
  }
}

test('a write run elsewhere: its WAIT is asked where it ran, and the first answer no longer counts', async () => {
  const log: string[] = []
  const old = connection(0, log, 'old')
  const moved = connection(1, log, 'new')
  const pipe = new NodeRedisPipeline(redirectedTo(moved, old)).call('SET', 'k', 'v').routeTo(old)
  pipe.call('WAIT', 1, 100).call('WAITAOF', 1, 0, 100)
  const replies = await pipe.exec()
  assert.deepEqual(replies, [
    [null, 'OK'],
    [null, 1],
    [null, [1, 1]],
  ])
  assert.deepEqual(log, ['new SET', 'old WAIT', 'old WAITAOF', 'new WAIT', 'new WAITAOF'])
})

test('one write of two run elsewhere: the fewest acknowledgements of both connections count', async () => {
  const log: string[] = []
  const old = connection(0, log, 'old')
  const moved = connection(2, log, 'new')
  const pipe = new NodeRedisPipeline(redirectedTo(moved, old)).call('SET', 'a', '1').routeTo(old)
  pipe.call('SET', 'b', '2').call('WAIT', 2, 100)
  assert.deepEqual((await pipe.exec())[2], [null, 0])
})

test('a write run where the route cannot tell: its WAIT fails, naming why', async () => {
  const log: string[] = []
  const old = connection(1, log, 'old')
  const pipe = new NodeRedisPipeline(redirectedTo(undefined, old)).call('SET', 'k', 'v').routeTo(old)
  pipe.call('WAIT', 1, 100)
  const [, [error]] = (await pipe.exec()) as [unknown, [Error | null, unknown]]
  assert.match(String(error?.message), /could not be asked on/)
})

test('nothing run elsewhere: the WAIT is sent once, and a pipeline without one is told nothing', async () => {
  const log: string[] = []
  const told: unknown[] = []
  const send: Send = (args, resent) => {
    told.push(resent)
    return connection(1, log, 'only')(args)
  }
  assert.deepEqual(await new NodeRedisPipeline(send).call('SET', 'k', 'v').call('WAIT', 1, 100).exec(), [
    [null, 'OK'],
    [null, 1],
  ])
  assert.deepEqual(log, ['only SET', 'only WAIT'])
  await new NodeRedisPipeline(send).call('SET', 'k', 'v').exec()
  assert.equal(told.at(-1), undefined, 'a pipeline without WAIT does not follow its commands')
})

/** A TRYAGAIN reply, as node-redis rejects with it. */
function tryAgain(): Error {
  const error = new Error('TRYAGAIN Multiple keys request during rehashing of slot')
  error.name = 'ErrorReply'
  return error
}

test('an MSET refused with TRYAGAIN (a slot halfway through a migration): sent again key by key, and its WAIT fails', async () => {
  const log: string[] = []
  const node = connection(1, log, 'node')
  const refusing: Send = (args, resent) =>
    String(args[0]) === 'MSET' ? Promise.reject(tryAgain()) : node(args, resent)
  const pipe = new NodeRedisPipeline(refusing).call('MSET', 'a', '1', 'b', '2').call('WAIT', 1, 100)
  const [written, [error]] = (await pipe.exec()) as [[Error | null, unknown], [Error | null, unknown]]
  assert.deepEqual(written, [null, 'OK'])
  assert.deepEqual(
    log.filter((line) => line.includes('SET')),
    ['node SET', 'node SET'],
  )
  assert.match(String(error?.message), /could not be asked on/)
})

test('an MGET refused with TRYAGAIN: read key by key, in order', async () => {
  const values: Record<string, string | null> = { a: '1', b: null, c: '3' }
  const send: Send = async (args) => {
    if (String(args[0]) === 'MGET') throw tryAgain()
    return values[String(args[1])]
  }
  const [[error, reply]] = (await new NodeRedisPipeline(send).call('MGET', 'a', 'b', 'c').exec()) as [
    [Error | null, unknown],
  ]
  assert.equal(error, null)
  assert.deepEqual(reply, ['1', null, '3'])
})

test('an MSET sent key by key of which one key fails: not "nothing ran", since the others were written', async () => {
  const send: Send = async (args) => {
    if (String(args[0]) === 'MSET') throw tryAgain()
    if (String(args[1]) === 'b') {
      // A refusal that says this key's SET ran nowhere ('not-applied' on its own).
      const error = new Error('LOADING Redis is loading the dataset in memory')
      error.name = 'ErrorReply'
      throw error
    }
    return 'OK'
  }
  const [[error]] = (await new NodeRedisPipeline(send).call('MSET', 'a', '1', 'b', '2').exec()) as [
    [Error | null, unknown],
  ]
  assert.equal((error as { outcome?: string } | null)?.outcome, 'unknown')
  assert.match(String(error?.message), /some keys may be written/)
})
