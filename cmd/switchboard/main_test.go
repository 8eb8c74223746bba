package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }

// buildBinary builds the switchboard command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listenRe = regexp.MustCompile(`websocket=(ws://\S+)`)

// startServe runs `switchboard serve` with args and env, returning the
// process and its WebSocket URL once it listens.
func startServe(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, string, *strings.Builder) {
	t.Helper()
	// TURN on free ports, so tests can run side by side and next to a real TURN server.
	// The SFU (auto rooms by default) on free ports too.
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--turn-listen-ip", "127.0.0.1", "--turn-port", "-1",
		"--sfu-listen-ip", "127.0.0.1", "--sfu-udp-port", "0", "--sfu-tcp-port", "0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := &strings.Builder{}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		close(urlc)
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			t.Fatalf("serve exited:\n%s", logs)
		}
		return cmd, u, logs
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not start")
	}
	return nil, "", nil
}

// The binary as users run it: env config, a token from `switchboard token`,
// and SIGTERM closing sessions with 1001 before a clean exit.
func TestServeTokenAndSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	cmd, url, logs := startServe(t, bin, []string{"SWITCHBOARD_JWT_SECRET=env-secret", "SWITCHBOARD_MAX_SESSIONS_PER_USER=1"})

	out, err := exec.Command(bin, "token", "--secret", "env-secret", "--user", "alice", "--room", "team-*", "--ttl", "1m").Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	c := testutil.Dial(t, url, nil)
	c.Hello(strings.TrimSpace(string(out)))
	c.Join("team-a")
	c.Send(map[string]any{"type": "join", "room": "other", "id": 1})
	c.ExpectError("forbidden")
	// SWITCHBOARD_MAX_SESSIONS_PER_USER=1 took effect.
	c2 := testutil.Dial(t, url, nil)
	c2.Send(map[string]any{"type": "hello", "token": strings.TrimSpace(string(out))})
	c2.ExpectError("limit_exceeded")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.Closed(); code != websocket.CloseGoingAway {
		t.Errorf("close code on SIGTERM: %d, want 1001", code)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v\n%s", err, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

func TestServeGeneratesSecretAndRefusesBadFlags(t *testing.T) {
	bin := buildBinary(t)
	_, _, logs := startServe(t, bin, nil)
	if !strings.Contains(logs.String(), "generated a random one") {
		t.Errorf("no log line about the generated secret:\n%s", logs)
	}
	// It prints its TURN URLs.
	if !regexp.MustCompile(`TURN URLs for clients on this host.*turn:127\.0\.0\.1:\d+\?transport=udp`).MatchString(logs.String()) {
		t.Errorf("no TURN URLs in the log:\n%s", logs)
	}
	// --sfu=false with sfu rules starts, and says that every room is a mesh.
	_, _, logs = startServe(t, bin, nil, "--sfu=false", "--room-modes", "big-*=sfu")
	if !strings.Contains(logs.String(), "the SFU is off") {
		t.Errorf("no warning that --sfu=false makes sfu rooms meshes:\n%s", logs)
	}
	for _, args := range [][]string{
		{"serve", "--namespaces", "chat:peers=x"},
		{"serve", "--rate", "-1"},
		{"serve", "--tls-cert", "c.pem"},
		{"serve", "--turn-allow-peers", "10.0.0.0/33"},
		{"serve", "--turn-relay-ports", "5000"},
		{"serve", "--signaling=false", "--turn=false"},
		{"serve", "--room-modes", "big-*"},
		{"serve", "--room-mode-default", "p2p"},
		{"serve", "--sfu-udp-port", "70000"},
		{"serve", "--sfu-tcp-port", "-2"},
		{"token", "--user", "u"},
		{"nonsense"},
	} {
		// A flag that became valid would start a server: the deadline ends
		// it rather than the test binary's timeout, which orphans the
		// servers started above.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%v: exit 0, want an error\n%s", args, out)
		}
		if !strings.Contains(string(out), "switchboard") {
			t.Errorf("%v: unclear error %q", args, out)
		}
	}
}

func TestParseNamespaces(t *testing.T) {
	got, err := parseNamespaces("chat, notifications:peers=8:rooms=4:rate=20:burst=40")
	if err != nil {
		t.Fatal(err)
	}
	want := []signaling.Namespace{{Name: "chat"}, {Name: "notifications", Limits: signaling.Limits{PeersPerRoom: 8, RoomsPerSession: 4, Rate: 20, Burst: 40}}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"chat:peers", "chat:color=red", "chat:peers=-1"} {
		if _, err := parseNamespaces(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
