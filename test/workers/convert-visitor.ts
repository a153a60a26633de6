// One "request" of a web process using the real Convert SDK with redfleet's data store:
// load the visitor, run the experience, convert a goal, save. Prints what happened as JSON.
import convert from '@convertcom/js-sdk'
import { createFleet, type FleetOptions } from '../../src/index.ts'
import { convertDataStore } from '../../src/integrations/convert.ts'

interface Args {
  options: FleetOptions
  visitor: string
  goal: string
  /** Traffic split of [control, variant]: processes can be configured differently. */
  split: [number, number]
}

const { options, visitor, goal, split } = JSON.parse(process.argv[2]!) as Args
// The package is CommonJS: under native ESM its default export is the whole module.
const { default: ConvertSDK, LogLevel, SystemEvents } = convert

const data = {
  account_id: '100',
  project: { id: '200' },
  experiences: [
    {
      id: '1001',
      key: 'exp-a',
      name: 'Experience A',
      variations: [
        { id: '2001', key: 'control', name: 'Control', traffic_allocation: split[0] },
        { id: '2002', key: 'variant', name: 'Variant', traffic_allocation: split[1] },
      ],
    },
  ],
  goals: [
    { id: '3001', key: 'goal-a', name: 'Goal A' },
    { id: '3002', key: 'goal-b', name: 'Goal B' },
  ],
}

const fleet = createFleet(options)
const dataStore = convertDataStore(fleet)
const sdk = new ConvertSDK({
  data,
  dataStore,
  network: { tracking: false }, // no network here; conversions are counted from SDK events
  events: { batch_size: 1 }, // the SDK writes to the data store at once instead of on a timer
  logger: { logLevel: LogLevel.SILENT },
} as never)
let conversions = 0
sdk.on(SystemEvents.CONVERSION, () => conversions++)

const key = `100-200-${visitor}`
await dataStore.load(key)
const context = sdk.createContext(visitor)
if (!context) throw new Error('the Convert SDK gave no context')
const variation = context.runExperience('exp-a', { locationProperties: {} }) as { key: string } | null
context.trackConversion(goal)
await dataStore.save()
console.log(JSON.stringify({ variation: variation?.key, conversions }))
await fleet.close()
