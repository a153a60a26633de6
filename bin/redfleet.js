#!/usr/bin/env node
// The `redfleet` command; the implementation is src/cli/main.ts, built into dist/.
import { main } from '../dist/cli/main.js'

process.exitCode = await main(process.argv.slice(2))
