// Replays a dead-letter channel and dies (SIGKILL: no cleanup, no close) as the replay starts its
// second kind of write: between the append and the delete of a replay whose channel and main
// stream no script can touch together, whichever of the two it sends first.
import { Redis } from 'ioredis'
import { replayDeadLetters } from '../../src/admin/dead-letters.ts'
import { createFleet, type FleetOptions } from '../../src/index.ts'

const { options, channel } = JSON.parse(process.argv[2]!) as { options: FleetOptions; channel: string }

/** What a command does to the streams: a replay appends with XADD or a script (add-each-once-1.lua). */
function writeKind(name: string): 'append' | 'delete' | undefined {
  if (name === 'xdel') return 'delete'
  if (name === 'xadd' || name === 'evalsha' || name === 'eval') return 'append'
  return undefined
}

// Every command of the fleet's connections (a cluster's included) goes through sendCommand.
const send = Redis.prototype.sendCommand
let first: string | undefined
Redis.prototype.sendCommand = function (this: Redis, command, ...rest) {
  const kind = writeKind(command.name.toLowerCase())
  first ??= kind
  if (kind !== undefined && kind !== first) process.kill(process.pid, 'SIGKILL')
  return send.call(this, command, ...rest)
}

const fleet = createFleet(options)
await replayDeadLetters(fleet, channel)
// Reached only when the replay never sent its second kind of write.
await fleet.close()
