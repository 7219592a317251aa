// Node preload (`node -r ./tests/standins/loopback.js server.js`): every TCP server the process
// starts listens on 127.0.0.1 only, whatever host (or none) it asked for. kinesis-local binds all
// interfaces and has no option to change that; the test stand-ins must not be reachable from
// outside the machine.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen({port, host, ...}): keep everything but the host; leave unix sockets alone
    if (first.path === undefined) args[0] = { ...first, host: '127.0.0.1' };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): rebuild as (port, '127.0.0.1'[, callback])
    const callback = args.find((a) => typeof a === 'function');
    args = callback ? [Number(first), '127.0.0.1', callback] : [Number(first), '127.0.0.1'];
  }
  return listen.apply(this, args);
};
