"""The HTTP edge: the ASGI app and its routes, the uvicorn server, SSE framing, authentication,
limits, the Agent Card, caching and public URLs, and the browser page (ui/)."""
