import { WebSocket } from 'ws';

// capnweb's WebSocketTransport reads `WebSocket.CONNECTING` from the global scope, and Node 20 has no global
// WebSocket (it came in Node 22). The `ws` class stands in: capnweb only reads its readyState constants and
// uses the `ws` socket it is given through the standard addEventListener/send/close surface.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
