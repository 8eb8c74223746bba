package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, srv *httptest.Server, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestContentTypes(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>Switchboard demo</title>"},
		{"/index.html", "text/html; charset=utf-8", "<title>Switchboard demo</title>"},
		{"/demo.js", "text/javascript; charset=utf-8", "from '/sdk/switchboard.js'"},
		{"/demo.css", "text/css; charset=utf-8", ".peer-list"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/sdk/switchboard.js", "text/javascript; charset=utf-8", "export class Switchboard"},
		{"/sdk/protocol.js", "text/javascript; charset=utf-8", "export class Requests"},
		{"/sdk/switchboard.d.ts", "application/typescript; charset=utf-8", "export declare class Switchboard"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, srv, http.MethodGet, tc.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			isSDK := strings.HasPrefix(tc.path, "/sdk/")
			if got := res.Header.Get("Access-Control-Allow-Origin"); (got == "*") != isSDK {
				t.Errorf("Access-Control-Allow-Origin %q on %s", got, tc.path)
			}
			isHTML := strings.HasPrefix(tc.contentType, "text/html")
			if got := res.Header.Get("Content-Security-Policy"); (got != "") != isHTML {
				t.Errorf("Content-Security-Policy %q on %s", got, tc.path)
			}
		})
	}
}

func TestNotServed(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{
		"/nope", "/sdk/", "/sdk/nope.js", "/sdk/protocol.test.mjs", "/sdk/fakes.mjs",
		"/demo/index.html", "/web.go", "/sdk/../web.go", "/ws", "/v1/dev/token",
		"/examples/", "/examples/react/nope.js", "/examples/../web.go",
	} {
		if res, _ := get(t, srv, http.MethodGet, path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
	res, _ := get(t, srv, http.MethodPost, "/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestHeadAndRevalidation(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	res, body := get(t, srv, http.MethodHead, "/sdk/switchboard.js", nil)
	if res.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("HEAD: status %d, %d bytes of body", res.StatusCode, len(body))
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, res.Header.Get("Cache-Control"))
	}
	res, _ = get(t, srv, http.MethodGet, "/sdk/switchboard.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
	other, _ := get(t, srv, http.MethodHead, "/sdk/protocol.js", nil)
	if other.Header.Get("ETag") == etag {
		t.Error("two files share an ETag")
	}
}

// urlPath is where an embedded file is served.
func urlPath(name string) string {
	switch {
	case strings.HasPrefix(name, "sdk/"), strings.HasPrefix(name, "examples/"):
		return "/" + name
	case name == "demo/index.html":
		return "/"
	default:
		return "/" + strings.TrimPrefix(name, "demo/")
	}
}

func TestEveryFileServed(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	n := 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		res, body := get(t, srv, http.MethodGet, urlPath(name), nil)
		if res.StatusCode != http.StatusOK || body != string(want) {
			t.Errorf("%s at %s: status %d, body matches: %v", name, urlPath(name), res.StatusCode, body == string(want))
		}
		if ct := res.Header.Get("Content-Type"); ct == "application/octet-stream" {
			t.Errorf("%s: no content type for its extension", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("only %d embedded files", n)
	}
}

// References between the served files: ES module imports and the src and
// href attributes of the demo page.
var refPattern = regexp.MustCompile(`(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\b(?:src|href)=)['"]([^'"]+)['"]`)

func TestReferencesResolve(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	checked := 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".html")) {
			return err
		}
		if strings.Contains(name, "/vendor/") {
			return nil // third-party builds as published; their strings are not references
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		base := urlPath(name)
		for _, m := range refPattern.FindAllStringSubmatch(string(body), -1) {
			ref := m[1]
			if strings.Contains(ref, "://") || strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "#") {
				continue
			}
			target := ref
			if !strings.HasPrefix(ref, "/") {
				target = base[:strings.LastIndex(base, "/")+1] + strings.TrimPrefix(ref, "./")
			}
			checked++
			if res, _ := get(t, srv, http.MethodHead, target, nil); res.StatusCode != http.StatusOK {
				t.Errorf("%s refers to %q (%s): status %d", name, ref, target, res.StatusCode)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 15 {
		t.Errorf("found only %d references: is the pattern still right?", checked)
	}
	t.Logf("%d references resolve", checked)
}

func TestDirectoryIndex(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, _ := get(t, srv, http.MethodGet, "/examples/react/vendor/LICENSE.txt", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("vendored React licence: status %d", res.StatusCode)
	}
	res, body := get(t, srv, http.MethodGet, "/examples/react/", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET /examples/react/: status %d", res.StatusCode)
	}
	res, _ = get(t, srv, http.MethodGet, "/examples/react", nil)
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/examples/react/" {
		t.Errorf("GET /examples/react: status %d, Location %q; want 301 to /examples/react/", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = get(t, srv, http.MethodGet, "/examples/react?room=a&autojoin=1", nil)
	if loc := res.Header.Get("Location"); loc != "/examples/react/?room=a&autojoin=1" {
		t.Errorf("GET /examples/react?room=a&autojoin=1: Location %q, want the query kept", loc)
	}
}
