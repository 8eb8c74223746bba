package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// files holds the SDK modules, the demo pages and the examples. Only *.js and
// *.d.ts of sdk/ are embedded: the unit tests and their fakes (*.mjs) stay out.
//
//go:embed sdk/*.js sdk/*.d.ts demo examples
var files embed.FS

// contentTypes maps file extensions to the Content-Type served. It is explicit
// so that the result does not depend on the host's mime.types (which maps .ts
// to MPEG transport streams on Debian, for one).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// demoCSP is the Content-Security-Policy of HTML pages: scripts, styles and
// connections only from the page's own origin (which covers ws:// and wss://
// to the same host).
const demoCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
	sdk         bool
}

// handler serves the embedded files; see Handler.
type handler struct {
	assets map[string]*asset // by URL path
}

// Handler returns the handler for the SDK and the demo:
//
//	/                    the demo page (demo/index.html)
//	/<file>              other demo pages and assets (demo/<file>)
//	/sdk/<file>          SDK modules and switchboard.d.ts
//	/examples/<path>     the examples (examples/<path>); a directory's
//	                     index.html also answers at the directory, "/examples/react/"
//
// Anything else is 404; methods other than GET and HEAD are 405.
func Handler() http.Handler {
	h := &handler{assets: make(map[string]*asset)}
	// Reading the embedded tree cannot fail; should it ever, the file is
	// missing from the map and answers 404 (TestEveryFileServed notices).
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil //nolint:nilerr // skip, see above
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return nil //nolint:nilerr // skip, see above
		}
		sum := sha256.Sum256(body)
		a := &asset{
			body:        body,
			contentType: contentType(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			sdk:         strings.HasPrefix(name, "sdk/"),
		}
		switch {
		case a.sdk:
			h.assets["/"+name] = a
		case strings.HasPrefix(name, "examples/"):
			h.assets["/"+name] = a
			if dir, file := path.Split(name); file == "index.html" {
				h.assets["/"+dir] = a
			}
		case name == "demo/index.html":
			h.assets["/"] = a
			h.assets["/index.html"] = a
		default:
			h.assets["/"+strings.TrimPrefix(name, "demo/")] = a
		}
		return nil
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	if p != "/" {
		dir := strings.HasSuffix(p, "/")
		p = path.Clean(p)
		if dir {
			p += "/" // "/examples/react/" names the example's index.html
		}
	}
	a, ok := h.assets[p]
	if !ok {
		if _, isDir := h.assets[p+"/"]; isDir && !strings.HasSuffix(p, "/") {
			target := p + "/" // "/examples/react" → "/examples/react/", keeping ?room=… for the page
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if a.sdk {
		hdr.Set("Access-Control-Allow-Origin", "*")
	}
	if strings.HasPrefix(a.contentType, "text/html") {
		hdr.Set("Content-Security-Policy", demoCSP)
		hdr.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// contentType is the Content-Type of an embedded file, by its extension.
func contentType(name string) string {
	if ct, ok := contentTypes[path.Ext(name)]; ok {
		return ct
	}
	return "application/octet-stream"
}
