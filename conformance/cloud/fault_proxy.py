#!/usr/bin/env python3
"""A fault injector in front of the real neutron-server (not a mock of Neutron).

    fault_proxy.py --listen-port P --upstream http://127.0.0.1:N [--fail-when marker=]
                   [--status 500] [--tls-cert leaf.pem --tls-key leaf.key]
                   [--race-pair IP] [--delete-port-on-put N] [--race-rule]

Forwards every request to the upstream unchanged (method, path, query, headers
including Host, so Neutron's next links point back here, and body) and returns
its answer, except that a GET whose path+query contains the --fail-when text
gets the --status answer with a NeutronError body instead. With
`--fail-when marker=` that is a 500 in the middle of paging: the first page is
Neutron's own, the next one fails. Without --fail-when it only forwards; with
--tls-cert/--tls-key it serves HTTPS (a TLS-terminating front, to test
`cacert` and `insecure`). Stdlib only; prints nothing (but a failed race move, on stderr).

Races, made deterministic (another client acting between vipwire's read of a
port and its write; with the token in $FAULT_PROXY_TOKEN when set, e.g. the
test cloud's admin, else with the one vipwire sent):
--race-pair IP: before forwarding the first PUT to /v2.0/ports/<id>, the
  proxy itself reads that port from the upstream and PUTs its pairs plus
  (IP, the port's MAC), without If-Match; vipwire's PUT, still carrying the
  revision it read, then meets Neutron's 412.
--delete-port-on-put N: before forwarding the N-th PUT to a port, the proxy
  DELETEs that port upstream; vipwire's PUT then meets Neutron's 404.
--race-rule: before forwarding the first POST to /v2.0/security-group-rules,
  the proxy POSTs the same rule itself; vipwire's then meets Neutron's 409.
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--listen-port', type=int, required=True)
    ap.add_argument('--upstream', required=True)
    ap.add_argument('--fail-when')
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--status', type=int, default=500)
    ap.add_argument('--race-pair')
    ap.add_argument('--delete-port-on-put', type=int)
    ap.add_argument('--race-rule', action='store_true')
    a = ap.parse_args()
    up = urllib.parse.urlsplit(a.upstream)
    puts = {'n': 0, 'rules': 0}
    lock = threading.Lock()

    def upstream(method, path, headers, body=None):
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        h = {k: v for k, v in headers.items()
             if k.lower() in ('x-auth-token', 'content-type', 'accept')}
        if os.environ.get('FAULT_PROXY_TOKEN'):
            h = {k: v for k, v in h.items() if k.lower() != 'x-auth-token'}
            h['X-Auth-Token'] = os.environ['FAULT_PROXY_TOKEN']
        conn.request(method, path, body=json.dumps(body).encode()
                     if body is not None else None, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data) if data else {}

    def meddle(method, path, headers, body):
        """The other client's move before vipwire's write, if asked for."""
        parts = urllib.parse.urlsplit(path).path.rstrip('/').split('/')
        if method == 'POST' and parts[-1] == 'security-group-rules' \
                and a.race_rule:
            with lock:
                puts['rules'] += 1
                first = puts['rules'] == 1
            if first:
                status, out = upstream('POST', path, headers, json.loads(body))
                if status != 201:
                    print(f'fault_proxy: POST {path}: {status} {out}',
                          file=sys.stderr, flush=True)
            return
        if method != 'PUT' or len(parts) < 2 or parts[-2] != 'ports':
            return
        with lock:
            puts['n'] += 1
            n = puts['n']
        if a.race_pair and n == 1:
            _, port = upstream('GET', path, headers)
            pairs = [{'ip_address': p['ip_address'],
                      'mac_address': p['mac_address']}
                     for p in port['port']['allowed_address_pairs']]
            pairs.append({'ip_address': a.race_pair})
            upstream('PUT', path, headers,
                     {'port': {'allowed_address_pairs': pairs}})
        if a.delete_port_on_put and n == a.delete_port_on_put:
            status, body = upstream('DELETE', path, headers)
            if status != 204:
                print(f'fault_proxy: DELETE {path}: {status} {body}',
                      file=sys.stderr, flush=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else None
            if self.command == 'GET' and a.fail_when and a.fail_when in self.path:
                out = json.dumps({'NeutronError': {
                    'type': 'HTTPInternalServerError',
                    'message': 'injected by fault_proxy.py',
                    'detail': ''}}).encode()
                self.send_response(a.status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                return
            meddle(self.command, self.path, self.headers, body)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ('connection', 'keep-alive')}
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ('connection', 'transfer-encoding',
                                     'content-length', 'keep-alive'):
                    self.send_header(k, v)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = forward

    server = ThreadingHTTPServer(('127.0.0.1', a.listen_port), Handler)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == '__main__':
    sys.exit(main())
