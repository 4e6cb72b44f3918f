"""The listening side, guarded against hostile connections.

uvicorn alone leaves a connection open for as long as the client likes while it sends nothing,
dribbles its headers or sends its body at a byte per second, and its accept loop (asyncio's)
logs one traceback per pending connection, in a busy loop, once the process runs out of file
descriptors. Here:

- ``limits``: the open-file limit raised at start, and the connection cap derived from it;
- ``connection``: what the guard reads and does on a connection (its phase, closing it);
- ``h11_connection``, ``httptools_connection``: uvicorn's HTTP/1.1 protocols telling the guard
  which phase a connection is in (httptools, in C, where installed; h11 otherwise);
- ``guard``: the open connections, their deadlines (one sweep, no timer per request) and the cap;
- ``listener``: our own accept loop, which respects the cap and backs off on accept errors;
- ``server``: uvicorn's server with the listener in place of asyncio's accept loop;
- ``throttle``: one log line per kind of event per interval.
"""
