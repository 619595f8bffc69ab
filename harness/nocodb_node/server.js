'use strict';
// Starts NocoDB (the `nocodb` npm package has no bin) on 127.0.0.1:$PORT.
// Everything else (data folder, JWT secret, telemetry) comes from NC_* environment variables
// set by harness/nocodb.py.
const express = require('express');
const { Noco } = require('nocodb');

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.env.PORT || '8080', 10);
// How long a graceful close may take before we exit anyway: keep-alive sockets can hold it open.
const CLOSE_GRACE_MS = 5000;

const app = express();
const server = app.listen(PORT, HOST, async () => {
  try {
    app.use(await Noco.init({}, server, app));
    console.log(`facegate-nocodb: listening on http://${HOST}:${PORT}`);
  } catch (err) {
    console.error('facegate-nocodb: NocoDB failed to start', err);
    process.exit(1);
  }
});

function shutdown(signal) {
  console.log(`facegate-nocodb: ${signal} received, closing`);
  server.close(() => process.exit(0));
  if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
  setTimeout(() => process.exit(0), CLOSE_GRACE_MS).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
