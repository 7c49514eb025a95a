// node:http for our bundles (scripts/build/NodeBundle.ts), without the three members
// Node defines as lazy getters: `WebSocket`, `CloseEvent` and `MessageEvent`. An ES
// import of node:http builds the module's ES facade, which reads every export, and
// reading those three loads Node's internal undici (its fetch and WebSocket): ~60 ms of
// CPU at every `serve` start for classes nothing in the bundle uses. `require` builds no
// facade; the other members are read here once, as the facade would read them.
import { createRequire } from "node:module"

const http = createRequire(import.meta.url)("node:http")

export const {
  _connectionListener,
  METHODS,
  STATUS_CODES,
  Agent,
  ClientRequest,
  IncomingMessage,
  OutgoingMessage,
  Server,
  ServerResponse,
  createServer,
  validateHeaderName,
  validateHeaderValue,
  get,
  request,
  setMaxIdleHTTPParsers,
  setGlobalProxyFromEnv,
  maxHeaderSize,
  globalAgent
} = http

export default http
