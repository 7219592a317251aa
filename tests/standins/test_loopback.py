"""tests/standins/loopback.js makes a Node server listen on 127.0.0.1 only, however it asks."""
import subprocess
from pathlib import Path

PRELOAD = Path(__file__).with_name("loopback.js")

SERVER = r"""
const net = require('net');
const forms = [
  (s, cb) => s.listen(0, cb),                      // port only: Node would bind every interface
  (s, cb) => s.listen(0, '0.0.0.0', cb),           // explicit wildcard host
  (s, cb) => s.listen({ port: 0, host: '::' }, cb) // options object
];
let left = forms.length;
for (const form of forms) {
  const s = net.createServer();
  form(s, () => { console.log(s.address().address); s.close(); if (--left === 0) process.exit(0); });
}
"""


def test_every_listen_form_binds_loopback_only():
    out = subprocess.run(["node", "-r", str(PRELOAD), "-e", SERVER], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["127.0.0.1"] * 3


def test_without_the_preload_node_binds_everything():
    """The control: the patch is what changes the address."""
    out = subprocess.run(["node", "-e", SERVER], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "127.0.0.1" not in out.stdout.split()
