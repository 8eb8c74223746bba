package testutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultChromiumPath is where browser tests look for Chromium (Debian's
// chromium package). The environment variable SWITCHBOARD_CHROMIUM overrides it.
const DefaultChromiumPath = "/usr/bin/chromium"

// chromiumFlags are the flags every test browser runs with, as measured in
// LAB.md. Chromium takes one --disable-features value only: keep every
// feature in the one string.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", "new"),  // the old headless mode lacks parts of WebRTC
	chromedp.Flag("no-sandbox", true), // root in containers: refuses to start otherwise
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("allow-loopback-in-peer-connection", true), // 127.0.0.1 candidates on loopback-only hosts
	chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter"),
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	// Hygiene: no traffic of its own, no background slowdowns of test tabs.
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.Flag("password-store", "basic"),
	chromedp.Flag("use-mock-keychain", true),
	chromedp.Flag("hide-scrollbars", true),
	chromedp.Flag("mute-audio", true),
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.WindowSize(1280, 900),
}

// chromiumPath returns the browser to run. Without one it skips the test,
// except under CI=true, where a browser test that cannot run fails.
func chromiumPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SWITCHBOARD_CHROMIUM")
	if path == "" {
		path = DefaultChromiumPath
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		msg := fmt.Sprintf("no Chromium at %s (apt-get install -y chromium, or set SWITCHBOARD_CHROMIUM)", path)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; browser tests never skip in CI")
		}
		t.Skip(msg)
	}
	return path
}

// RequireChromium skips the test when there is no browser to run, or
// fails it under CI=true; for a test whose browser runs in another process.
func RequireChromium(t testing.TB) {
	t.Helper()
	chromiumPath(t)
}

// NewBrowser starts a headless Chromium with a fresh profile and returns its
// context; pass it to NewTab. extra options (flags) come after the test
// flags. The browser stops in t.Cleanup. Without a browser the test is
// skipped, or fails under CI=true.
func NewBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	output := &cappedBuffer{max: 256 << 10}
	if v := os.Getenv("SWITCHBOARD_CHROMIUM_LOG"); v != "" {
		// Chromium's own log (WebRTC's warnings: SRTP replays, undecodable
		// frames), saved with the artifacts of a failed test; the value is
		// a --vmodule pattern, or 1.
		output.max = 64 << 20
		extra = append(extra, chromedp.Flag("enable-logging", "stderr"), chromedp.Flag("v", "0"))
		if v != "1" {
			extra = append(extra, chromedp.Flag("vmodule", v))
		}
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
	}, chromiumFlags...)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after t.TempDir's own cleanup, so it runs before it: the
	// browser is gone before its profile is removed.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() && output.Len() > 0 {
			if dir := artifactDir(t); dir != "" {
				writeArtifact(t, filepath.Join(dir, "chromium-output.txt"), []byte(output.String()))
			}
		}
	})
	start := time.Now()
	// The first Do starts the browser and binds it to ctx, which has no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v\n%s", exe, err, output.String())
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return ctx
}

// NewTab opens a tab (in a window of its own, so it is never hidden or
// throttled) in a browser from NewBrowser, and collects its console. When the
// test fails, a screenshot and the console log of the tab are saved to a
// directory that the test log names. The tab closes in t.Cleanup.
func NewTab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	tabCtx, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(tabCtx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	console := &ConsoleLog{}
	messages := chromedp.Console(tabCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			console.add(m)
		}
	}()
	name := fmt.Sprintf("tab%d", tabSeq.next(t))
	t.Cleanup(func() {
		if t.Failed() {
			saveTabArtifacts(t, tabCtx, name, console)
		}
		cancel()
		<-done
	})
	return context.WithValue(tabCtx, consoleKey{}, console)
}

// Console returns the console log of a tab from NewTab.
func Console(tab context.Context) *ConsoleLog {
	c, _ := tab.Value(consoleKey{}).(*ConsoleLog)
	return c
}

type consoleKey struct{}

// ConsoleLog collects what a tab writes to its console: console API calls,
// uncaught exceptions and browser log entries. It is safe for concurrent use.
type ConsoleLog struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func (c *ConsoleLog) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages = append(c.messages, m)
}

// Messages returns a copy of the messages so far.
func (c *ConsoleLog) Messages() []chromedp.ConsoleMessage {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.messages...)
}

// Errors returns the errors and uncaught exceptions so far, one line each.
func (c *ConsoleLog) Errors() []string {
	var out []string
	for _, m := range c.Messages() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, formatConsole(m))
		}
	}
	return out
}

// String returns the whole log, one message a line.
func (c *ConsoleLog) String() string {
	var b strings.Builder
	for _, m := range c.Messages() {
		b.WriteString(formatConsole(m))
		b.WriteByte('\n')
	}
	return b.String()
}

func formatConsole(m chromedp.ConsoleMessage) string {
	where := ""
	if m.URL != "" {
		where = fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	return fmt.Sprintf("%s %-9s %s%s", m.Time.Format("15:04:05.000"), m.Type, m.Text, where)
}

// saveTabArtifacts writes a screenshot and the console log of a tab.
func saveTabArtifacts(t testing.TB, tab context.Context, name string, console *ConsoleLog) {
	dir := artifactDir(t)
	if dir == "" {
		return
	}
	writeArtifact(t, filepath.Join(dir, name+"-console.txt"), []byte(console.String()))
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("%s: no screenshot: %v", name, err)
		return
	}
	writeArtifact(t, filepath.Join(dir, name+".png"), png)
}

func writeArtifact(t testing.TB, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("saving %s: %v", path, err)
	}
}

// artifacts maps each failed test to the directory of its artifacts, so all
// tabs of one test land in one directory that is named once in the log.
var artifacts = struct {
	sync.Mutex
	dirs map[testing.TB]string
}{dirs: map[testing.TB]string{}}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// artifactDir creates (once per test) a directory for failure artifacts under
// $SWITCHBOARD_ARTIFACTS or the system's temporary directory. It outlives the
// test on purpose.
func artifactDir(t testing.TB) string {
	artifacts.Lock()
	defer artifacts.Unlock()
	if dir, ok := artifacts.dirs[t]; ok {
		return dir
	}
	base := os.Getenv("SWITCHBOARD_ARTIFACTS")
	if base != "" {
		if err := os.MkdirAll(base, 0o755); err != nil {
			t.Logf("artifacts: %v", err)
			base = ""
		}
	}
	dir, err := os.MkdirTemp(base, "switchboard-"+unsafeChars.ReplaceAllString(t.Name(), "_")+"-")
	if err != nil {
		t.Logf("artifacts: %v", err)
		dir = ""
	} else {
		t.Logf("browser artifacts (screenshots, console logs) saved in %s", dir)
	}
	artifacts.dirs[t] = dir
	return dir
}

// tabSeq numbers the tabs of each test: tab1, tab2, ...
var tabSeq = &counter{n: map[testing.TB]int{}}

type counter struct {
	mu sync.Mutex
	n  map[testing.TB]int
}

func (c *counter) next(t testing.TB) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[t] == 0 {
		t.Cleanup(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.n, t)
		})
	}
	c.n[t]++
	return c.n[t]
}

// cappedBuffer keeps the first max bytes written to it (Chromium's own
// output, which can be chatty).
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
