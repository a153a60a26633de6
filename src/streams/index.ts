export type { Delivery, Envelope } from './entry.ts'
export {
  type ConsumeOptions,
  createStreams,
  type PublishOptions,
  type Streams,
  type StreamsOptions,
} from './streams.ts'
