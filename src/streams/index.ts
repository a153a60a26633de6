export type { Delivery, Envelope } from './entry.ts'
export { type ConsumeOptions, createStreams, type Streams, type StreamsOptions } from './streams.ts'
