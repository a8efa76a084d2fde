#!/usr/bin/env python3
"""An asyncio HTTP sink for the scale benchmark (its own process, so its
sockets do not count against the benchmark's file limit). GET anything: sends
response headers and then holds the connection open, idle."""
import asyncio

held = []


async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        await writer.drain()
        held.append(writer)
        await reader.read()  # until the client goes away
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(f"sink listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
