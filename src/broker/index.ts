export { type Broker, type BrokerOptions, createBroker } from './broker.ts'
export { createPresence, type Presence, type PresenceOptions } from './presence.ts'
