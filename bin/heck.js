#!/usr/bin/env node
import { main } from "../dist/cli/main.js";

const code = await main(process.argv.slice(2));
// Exit explicitly (a stray handle must not keep a finished command alive), but only once
// stdout and stderr have flushed, so that piped output is never cut short.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
