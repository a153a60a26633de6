import type { FleetContext } from '../context.ts'

/** Options of `fleet.streams()` (SPEC §5). Implemented in issue #5. */
export interface StreamsOptions {
  eventsMaxLen?: number
  channelMaxLen?: number
}
export interface Streams {
  publish(env: Record<string, unknown>, channels?: string[]): Promise<string>
}

export function createStreams(_ctx: FleetContext, _options: StreamsOptions = {}): Streams {
  throw new Error('fleet.streams() is not implemented yet')
}
