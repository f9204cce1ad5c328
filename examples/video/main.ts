#!/usr/bin/env node
import { runServe } from './serve.js';

// runServe resolves only when the server could not start (it runs until a signal otherwise): exit then, even
// if something still holds the event loop open (an IPC channel to a parent process, a half-closed handle).
process.exit(await runServe(process.argv.slice(2), 'npm start --'));
