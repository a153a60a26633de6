import type { FleetContext } from '../context.ts'

/** Options of `fleet.broker()` (SPEC §4). Implemented in issue #4. */
export interface BrokerOptions {
  channel?: string
  onError?: (e: unknown) => void
}
export interface Broker {
  publish(message: string): Promise<void>
  subscribe(listener: (message: string) => void): () => void
  ready(): Promise<void>
}
export interface PresenceOptions {
  onError?: (e: unknown) => void
}
export interface Presence {
  publish(room: string, payload: Uint8Array | string): Promise<void>
  subscribe(room: string, fn: (payload: Buffer) => void, o?: { signal?: AbortSignal }): Promise<void>
}

export function createBroker(_ctx: FleetContext, _options: BrokerOptions = {}): Broker {
  throw new Error('fleet.broker() is not implemented yet')
}

export function createPresence(_ctx: FleetContext, _options: PresenceOptions = {}): Presence {
  throw new Error('fleet.presence() is not implemented yet')
}
