// Package web serves Switchboard's browser side: the JavaScript SDK under
// /sdk/ (ES modules with JSDoc types and a hand-written switchboard.d.ts) and
// the demo page at /.
//
// The files are embedded with go:embed, so the binary needs nothing on disk.
// Handler answers GET and HEAD only, with explicit content types (never the
// host's mime.types), an ETag per file and Cache-Control: no-cache, so a
// browser revalidates cheaply and never runs an SDK older than the server.
// SDK files carry Access-Control-Allow-Origin: * so pages on other origins can
// import them.
//
// The server's mux routes /ws, /healthz, /metrics and /v1/... itself and hands
// everything else to Handler. The demo page relies on GET /v1/dev/token
// (present with --dev) and on the WebSocket at /ws of the same host.
//
// Handler is safe for concurrent use: it only reads data built once when it
// is created.
package web
