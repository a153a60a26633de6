import { Socket } from 'node:net'

/**
 * This process's open sockets to any of `ports` (Node's active handles, what keeps a process
 * running): a socket destroyed already, whose handle closes in a later turn, is not counted.
 */
export function socketsTo(ports: number | Iterable<number>): Socket[] {
  const wanted = new Set(typeof ports === 'number' ? [ports] : ports)
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
  return handles.filter(
    (handle): handle is Socket =>
      handle instanceof Socket && !handle.destroyed && wanted.has(handle.remotePort ?? -1),
  )
}
