import type { FleetContext } from '../context.ts'

/** Options of `fleet.membership()` (SPEC §6). Implemented in issue #4. */
export interface MembershipOptions {
  ttl?: number
}
export interface Membership {
  heartbeat(id: string): Promise<void>
}

export function createMembership(_ctx: FleetContext, _options: MembershipOptions = {}): Membership {
  throw new Error('fleet.membership() is not implemented yet')
}
