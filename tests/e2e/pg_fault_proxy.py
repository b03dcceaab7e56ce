"""A fault-injecting TCP proxy in front of PostgreSQL, for the ambiguous-commit
tests: it reads the client's side of the wire protocol and, on every Nth
commit point (a simple-query COMMIT, or the Sync after Gavel's group-commit
statement `commit_all`, which commits by itself outside a transaction block),
cuts the connection either right after forwarding it
(the commit lands, the client never hears so) or right before (it does not
land). Both look the same to the client: a connection lost during COMMIT.

  pg_fault_proxy.py --listen 127.0.0.1:PORT --unix /path/.s.PGSQL.5432 \
      --every N [--stats FILE]

Clients must connect with sslmode=disable and gssencmode=disable (an SSL or
GSS request is answered 'N' anyway). /usr/bin/python3, standard library only.
"""
import argparse
import asyncio
import json
import re
import struct

COMMIT = re.compile(rb"^\s*commit\s*;?\s*$", re.I)
stats = {"connections": 0, "commits": 0, "syncs": 0, "cut_after": 0, "cut_before": 0}


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def read_exact(reader, n):
    return await reader.readexactly(n)


async def handle(client_r, client_w, args):
    stats["connections"] += 1
    write_stats(args)
    try:
        server_r, server_w = await asyncio.open_unix_connection(args.unix)
    except OSError:
        client_w.close()
        return
    down = asyncio.ensure_future(pipe(server_r, client_w))
    try:
        # Startup: length-prefixed, no type byte; SSL/GSS requests are refused.
        while True:
            head = await read_exact(client_r, 8)
            length, code = struct.unpack("!II", head)
            rest = await read_exact(client_r, length - 8)
            if code in (80877103, 80877104):
                client_w.write(b"N")
                await client_w.drain()
                continue
            server_w.write(head + rest)
            await server_w.drain()
            break
        group_commit = False
        while True:
            head = await read_exact(client_r, 5)
            kind, length = head[0:1], struct.unpack("!I", head[1:5])[0]
            body = await read_exact(client_r, length - 4)
            if kind == b"B":
                group_commit = body.split(b"\0")[1] == b"commit_all"
            point = (kind == b"Q" and COMMIT.match(body.rstrip(b"\0"))) or (
                kind == b"S" and group_commit)
            if kind == b"S":
                group_commit = False
            if point:
                # Separate counts per kind of commit point: a cut Sync aborts
                # its transaction (no COMMIT follows), which would otherwise
                # keep every cut on the same kind.
                counter = "commits" if kind == b"Q" else "syncs"
                stats[counter] += 1
                n = stats[counter]
                if n % args.every == 0:
                    after = (n // args.every) % 2 == 1
                    # Nothing the server answers reaches the client from here
                    # on: it cannot know whether its COMMIT landed.
                    down.cancel()
                    await asyncio.sleep(0)
                    where = "commit" if kind == b"Q" else "sync"
                    when = "after" if after else "before"
                    stats[f"cut_{where}_{when}"] = stats.get(f"cut_{where}_{when}", 0) + 1
                    if after:
                        server_w.write(head + body)
                        await server_w.drain()
                        stats["cut_after"] += 1
                    else:
                        stats["cut_before"] += 1
                    write_stats(args)
                    client_w.transport.abort()
                    # The server keeps its side a moment: a forwarded COMMIT
                    # completes while the client already reconnects.
                    await asyncio.sleep(0.2)
                    server_w.transport.abort()
                    return
            server_w.write(head + body)
            await server_w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        server_w.close()
        down.cancel()


def write_stats(args):
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--unix", required=True)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--stats")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(lambda r, w: handle(r, w, args), host, int(port))
    write_stats(args)
    print("listening on", args.listen, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
