package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// sfuRunner is one RunSFU.
type sfuRunner struct {
	cfg    SFUConfig
	out    io.Writer
	t0     time.Time // stamps count from here (monotonic)
	runID  string
	client *http.Client
	probe  *probe
	api    *webrtc.API
	errNote
}

func (r *sfuRunner) logf(format string, args ...any) { logf(r.out, format, args...) }

func (r *sfuRunner) stamp() int64 { return int64(time.Since(r.t0)) }

func (r *sfuRunner) skipPIDs() map[int]bool {
	return map[int]bool{0: true, pidSelf(): true, r.probe.pid: true}
}

// RunSFU runs every phase of cfg against a running Switchboard, a fresh
// room of fresh participants each, and writes progress, one RESULT line
// per phase and a summary to out. It returns early (with what it measured
// so far and ctx's error) when ctx ends.
func RunSFU(ctx context.Context, cfg SFUConfig, out io.Writer) (SFUResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return SFUResult{}, err
	}
	// A participant holds its WebSocket and a UDP socket per PeerConnection.
	if lim := fileLimit(); lim > 0 && uint64(3*cfg.participants())+64 > lim {
		return SFUResult{}, fmt.Errorf("%w: %d participants (about 3 files each), limit %d", ErrFileLimit, cfg.participants(), lim)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	api, err := newSFUAPI()
	if err != nil {
		return SFUResult{}, err
	}
	r := &sfuRunner{cfg: cfg, out: out, t0: time.Now(), runID: hex.EncodeToString(id[:]), client: newHTTPClient(), api: api}
	defer r.client.CloseIdleConnections()
	pid := cfg.PID
	if pid == 0 {
		pid = findPID(cfg.URL)
	}
	r.probe = &probe{pid: pid, metrics: cfg.MetricsURL, client: r.client}
	res := SFUResult{Label: cfg.Label, Machine: machineInfo([]int{pid})}
	err = r.run(ctx, &res)
	res.FirstError = r.firstError()
	res.WriteSummary(out)
	return res, err
}

func (r *sfuRunner) run(ctx context.Context, res *SFUResult) error {
	cfg := &r.cfg
	logMachine(r.out, res.Machine)
	r.logf("target: %s pid=%d metrics=%s; video: %s", cfg.URL, r.probe.pid, cfg.MetricsURL, cfg.videoLoad())
	res.IdleRSS = r.probe.sample(ctx).rss
	if m := r.sfuCounters(ctx); m.fwdPackets < 0 {
		r.logf("no switchboard_sfu_forwarded_packets_total at %s: packet rates and µs/packet will read -1", cfg.MetricsURL)
	}
	phases := make([]struct {
		mode string
		n    int
	}, 0, len(cfg.Subscribers)+len(cfg.Talkers))
	for _, n := range cfg.Subscribers {
		phases = append(phases, struct {
			mode string
			n    int
		}{"video-fanout", n})
	}
	for _, n := range cfg.Talkers {
		phases = append(phases, struct {
			mode string
			n    int
		}{"audio", n})
	}
	for _, p := range phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		ph := r.newPhase(p.mode, p.n)
		got := ph.run(ctx)
		if got.NotSFU {
			return fmt.Errorf("%w: %s", ErrNotSFU, r.firstError())
		}
		got.IdleRSS = res.IdleRSS
		res.Phases = append(res.Phases, got)
		res.FirstError = r.firstError()
		fmt.Fprintln(r.out, res.phaseLine(got))
		if got.Joined == 0 {
			return fmt.Errorf("%w: %s", ErrNoSessions, r.firstError())
		}
	}
	return ctx.Err()
}

// token is participant idx's hello token.
func (r *sfuRunner) token(ctx context.Context, idx int) (string, error) {
	user := fmt.Sprintf("bench-%s-%d", r.runID, idx)
	return helloToken(ctx, r.client, r.cfg.URL, r.cfg.Secret, r.cfg.Token, user, SFUBudget(r.cfg)+time.Hour)
}

// helloToken is user's token: minted with secret, the token given, or one
// from the dev endpoint of the server at wsURL.
func helloToken(ctx context.Context, client *http.Client, wsURL, secret, token, user string, ttl time.Duration) (string, error) {
	switch {
	case secret != "":
		return signaling.MintHS256([]byte(secret), signaling.TokenSpec{User: user, Rooms: []string{"*"}, TTL: ttl})
	case token != "":
		return token, nil
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	req, err := newGet(ctx, "http://"+u.Host+"/v1/dev/token?user="+url.QueryEscape(user))
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil || body.Token == "" {
		return "", fmt.Errorf("dev token (give --jwt-secret, or start the server with --dev): %s %v %s", resp.Status, err, body.Error)
	}
	return body.Token, nil
}

// sfuCounters are the server's SFU counters at one time (-1: unknown).
type sfuCounters struct {
	fwdPackets, fwdBytes, nacks, plis int64
	fanout                            promHist
}

func (a sfuCounters) minus(b sfuCounters) sfuCounters {
	d := func(x, y int64) int64 {
		if x < 0 || y < 0 {
			return -1
		}
		return x - y
	}
	return sfuCounters{d(a.fwdPackets, b.fwdPackets), d(a.fwdBytes, b.fwdBytes), d(a.nacks, b.nacks), d(a.plis, b.plis),
		a.fanout.minus(b.fanout)}
}

// sfuCounters scrapes the server's switchboard_sfu_* counters.
func (r *sfuRunner) sfuCounters(ctx context.Context) sfuCounters {
	c := sfuCounters{-1, -1, -1, -1, promHist{}}
	if r.cfg.MetricsURL == "-" {
		return c
	}
	req, err := newGet(ctx, r.cfg.MetricsURL)
	if err != nil {
		return c
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return c
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return c
	}
	return parseSFUCounters(string(b))
}
