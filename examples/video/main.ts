#!/usr/bin/env node
import { runServe } from './serve.js';

process.exitCode = await runServe(process.argv.slice(2), 'npm start --');
