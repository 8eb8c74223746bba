package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compatModules is where scripts/test.sh installs, with npm ci, the real
// client libraries whose protocols Switchboard speaks (compat/package.json
// and its lock file).
const compatModules = "compat/node_modules"

// requireCompatModules skips the test when the npm packages are not
// installed, or fails it under CI=true, where nothing skips silently.
func requireCompatModules(t *testing.T, pkgs ...string) {
	t.Helper()
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(compatModules, p, "package.json")); err != nil {
			msg := "npm package " + p + " is not installed: run `npm ci` in internal/e2e/compat (scripts/test.sh does)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + "; compat tests never skip in CI")
			}
			t.Skip(msg)
		}
	}
}

// importMap maps the bare module names the packages import to their files
// under /node_modules/, from each package's "exports" with the conditions
// a browser resolves ("browser", "module", "import", "default"). A file
// that is no ES module gets a shim instead (shims: specifier -> URL).
func importMap(t *testing.T, pkgs []string, shims map[string]string) []byte {
	t.Helper()
	imports := map[string]string{}
	for _, p := range pkgs {
		b, err := os.ReadFile(filepath.Join(compatModules, p, "package.json"))
		if err != nil {
			t.Fatal(err)
		}
		var pj struct {
			Module  string          `json:"module"`
			Exports json.RawMessage `json:"exports"`
		}
		if err := json.Unmarshal(b, &pj); err != nil {
			t.Fatalf("%s/package.json: %v", p, err)
		}
		var exports map[string]any
		json.Unmarshal(pj.Exports, &exports)
		if len(exports) > 0 && !strings.HasPrefix(firstKey(exports), ".") { // conditions of "." only (y-webrtc)
			exports = map[string]any{".": exports}
		}
		if pj.Module != "" && exports["."] == nil {
			exports["."] = pj.Module
		}
		for sub, target := range exports {
			file := resolveExport(target)
			if file == "" || strings.Contains(sub, "*") {
				continue
			}
			name := p + strings.TrimPrefix(sub, ".")
			imports[name] = "/node_modules/" + p + "/" + strings.TrimPrefix(file, "./")
		}
	}
	for k, v := range shims {
		imports[k] = v
	}
	b, err := json.Marshal(map[string]any{"imports": imports})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstKey(m map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// resolveExport picks the file a browser's ES module loader gets from an
// "exports" target ("" if none: a require-only or node-only entry).
func resolveExport(target any) string {
	switch v := target.(type) {
	case string:
		if strings.HasSuffix(v, ".cjs") || strings.HasSuffix(v, ".d.ts") {
			return ""
		}
		return v
	case map[string]any:
		for _, cond := range []string{"browser", "module", "import", "default"} {
			if t, ok := v[cond]; ok {
				if f := resolveExport(t); f != "" {
					return f
				}
			}
		}
	}
	return ""
}

// startCompatPage serves page at / and the installed packages under
// /node_modules/ (and files at the paths of extra), on 127.0.0.1; it
// returns the port. Tabs can reach it as http://NAME.localhost:PORT/,
// each name an origin of its own (so no BroadcastChannel joins them).
func startCompatPage(t *testing.T, page string, extra map[string]string) string {
	t.Helper()
	mux := http.NewServeMux()
	files := http.StripPrefix("/node_modules/", http.FileServer(http.Dir(compatModules)))
	mux.HandleFunc("/node_modules/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".js") || strings.HasSuffix(r.URL.Path, ".mjs") {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		files.ServeHTTP(w, r)
	})
	for path, body := range extra {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write([]byte(body))
		})
	}
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}
