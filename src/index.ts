export type { Broker, BrokerOptions, Presence, PresenceOptions } from './broker/index.ts'
export type {
  Cache,
  CacheEvent,
  CacheKey,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './cache/index.ts'
export {
  ClosedError,
  CommandError,
  ConfigError,
  ConflictError,
  ConnectionError,
  type ErrorCode,
  MissingClientError,
  RedfleetError,
  SerializationError,
  TimeoutError,
} from './errors.ts'
export { failsafe } from './failsafe.ts'
export { createFleet, type Fleet } from './fleet.ts'
export type { Membership, MembershipHandle, MembershipOptions } from './membership/index.ts'
export type { FleetOptions } from './options.ts'
export { type RetryOptions, retry } from './retry.ts'
export type { Store, StoreOptions } from './store/store.ts'
export type { ConsumeOptions, Delivery, Envelope, Streams, StreamsOptions } from './streams/index.ts'
export type { TopologyKind } from './topology/types.ts'
export type { TrackedJob, Tracker, TrackerOptions } from './tracker/index.ts'
