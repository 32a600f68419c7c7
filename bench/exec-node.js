// The Node.js peer of bench/exec.sh: one process, child_process.exec('true') on /exec and
// execFile('/bin/true') on /exec-file, answered with the exit code. Prints its port.
'use strict';
const http = require('http');
const { exec, execFile } = require('child_process');

const answer = (res) => (err) => res.end((err ? String(err.code) : '0') + '\n');
const server = http.createServer((req, res) => {
  if (req.url === '/exec-file') execFile('/bin/true', answer(res));
  else exec('true', answer(res));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
