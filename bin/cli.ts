#!/usr/bin/env node
// The SDK's notice about this Node version is noise for a CLI; the Lambdas run on Node.js 24.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { runCli } from '../src/cli/main.js';
import { closeHttpPools } from '../src/providers/http.js';

process.exitCode = await runCli(process.argv.slice(2));
// Keep-alive connections would hold the process for their idle timeout.
await closeHttpPools();
