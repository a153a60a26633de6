/// <reference types="node" preserve="true" />
// Kept in the published .d.ts, which use Node's types: TypeScript 7 loads no @types by itself.
export type { Broker, BrokerOptions, Presence, PresenceOptions } from './broker/index.ts'
export type {
  Cache,
  CacheEvent,
  CacheKey,
  CacheKeyPart,
  CacheOptions,
  CacheStats,
  FetchOptions,
  ReadOptions,
  WriteOptions,
} from './cache/index.ts'
export type { Codec } from './codec.ts'
export {
  type ArgumentErrorCode,
  ClosedError,
  CommandError,
  ConfigError,
  type ConfigErrorCode,
  ConflictError,
  ConnectionError,
  DurabilityError,
  type ErrorCode,
  InvalidArgumentError,
  MissingClientError,
  NodeDownError,
  RedfleetError,
  SerializationError,
  TimeoutError,
  type WaitFor,
} from './errors.ts'
export { failsafe } from './failsafe.ts'
export { createFleet, type Fleet } from './fleet.ts'
export type { Membership, MembershipHandle, MembershipOptions } from './membership/index.ts'
export type { FleetOptions } from './options.ts'
export { type RetryOptions, retry } from './retry.ts'
export type { Store, StoreOptions, StoreWriteOptions } from './store/store.ts'
export type {
  ConsumeOptions,
  Delivery,
  Envelope,
  PublishOptions,
  Streams,
  StreamsOptions,
} from './streams/index.ts'
export type { TopologyKind } from './topology/types.ts'
export type { TrackedJob, Tracker, TrackerOptions } from './tracker/index.ts'
